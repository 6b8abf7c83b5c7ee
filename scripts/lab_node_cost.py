#!/usr/bin/python3
"""What one simulated node of the skewless lab costs: setup time, agent RSS, agent CPU.

Runs `skewless-lab run` (as root) with the given nodes, reads the run record for the
processes the lab started, and samples each skewless-agent's and the control plane's
/proc/<pid>/stat (CPU) and /proc/<pid>/status (RSS) at the start of the load and just
before it ends. Prints one summary; the lab cleans up after itself as on any run.

  sudo scripts/lab_node_cost.py --lab build/bin/skewless-lab --nodes-per-zone 4
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def role(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv0 = f.read().split(b"\0")[0].decode()
    return os.path.basename(argv0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lab", default="build/bin/skewless-lab", help="skewless-lab binary")
    p.add_argument("--nodes-per-zone", type=int, default=4)
    p.add_argument("--clients-per-node", type=int, default=1)
    p.add_argument("--zones", default="zone-a,zone-b,zone-c")
    p.add_argument("--pods", type=int, default=6)
    p.add_argument("--dataplane", default="skewless", help="skewless or skewless-l7")
    p.add_argument("--duration", type=int, default=10, help="seconds of load")
    p.add_argument("--rate", type=int, default=1000, help="total RPCs/s")
    p.add_argument("--id", default=f"c{os.getpid() % 100000}")
    p.add_argument("--state-dir", default="/run/skewless-lab")
    a = p.parse_args()

    argv = [a.lab, "run", "--id", a.id, "--state-dir", a.state_dir, "--zones", a.zones,
            "--pods", str(a.pods), "--nodes-per-zone", str(a.nodes_per_zone),
            "--clients-per-node", str(a.clients_per_node), "--dataplane", a.dataplane,
            "--duration", f"{a.duration}s", "--rate", str(a.rate), "-o", "json"]
    started = time.monotonic()
    lab = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    setup_s = None
    for line in lab.stderr:
        sys.stderr.write(line)
        if "persistent gRPC connections" in line:  # the load starts: setup is over
            setup_s = time.monotonic() - started
            break
    if setup_s is None:
        lab.wait()
        sys.exit(f"the lab ended before the load started (exit {lab.returncode})")
    with open(os.path.join(a.state_dir, f"{a.id}.json")) as f:
        pids = [p["pid"] for p in json.load(f)["processes"]]
    watched = {pid: role(pid) for pid in pids
               if role(pid) in ("skewless-agent", "skewless-controlplane", "skewless-splicer")}
    before = {pid: cpu_seconds(pid) for pid in watched}
    time.sleep(max(a.duration - 1, 1))
    after = {pid: cpu_seconds(pid) for pid in watched}
    rss = {pid: rss_kib(pid) for pid in watched}
    window_s = max(a.duration - 1, 1)
    rest = lab.stderr.read()
    sys.stderr.write(rest)
    report = lab.stdout.read()
    lab.wait()

    by_role = {}
    for pid, name in watched.items():
        r = by_role.setdefault(name, {"n": 0, "cpu": 0.0, "rss": []})
        r["n"] += 1
        r["cpu"] += after[pid] - before[pid]
        r["rss"].append(rss[pid])
    nodes = len(a.zones.split(",")) * a.nodes_per_zone
    print(f"{nodes} nodes, setup {setup_s:.1f} s until the load started")
    for name, r in sorted(by_role.items()):
        print(f"{name}: {r['n']} process(es), RSS {min(r['rss']) / 1024:.1f}-"
              f"{max(r['rss']) / 1024:.1f} MiB each, CPU during the load "
              f"{100 * r['cpu'] / r['n'] / window_s:.2f}% of a core each")
    try:
        result = json.loads(report)
        print(f"load: {result['requests']} requests, {result['errors']} errors, "
              f"max/mean {result['spread']['max_over_mean']:.2f}")
    except (ValueError, KeyError):
        pass
    sys.exit(lab.returncode)


if __name__ == "__main__":
    main()
