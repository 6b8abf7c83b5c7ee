#!/usr/bin/env python3
"""skewless benchmarks: runs every measurement side by side in one go and
writes docs/BENCHMARKS.md. Ratios, not lone times: this box is noisy.

Usage: bench/run.py BUILD_DIR [--quick] [--only xds|agent|splicer|abuse|policy|cluster|lrs|websocket]
       (as root; `make bench` runs it)
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def say(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class PodServer:
    """One pod on loopback (zero service time), for the generator ceiling and the splicer
    runs: the lab's gRPC C++ `skewless-pod-server`, or with `light` the bench's
    `skewless-h2-pod` (the same calls on one nghttp2 thread, for the pinned latency rows);
    on core `cpu` only if given."""

    def __init__(self, bin_dir, name="bench-pod", light=False, cpu=None):
        self.name = name
        argv = ([f"{bin_dir}/skewless-h2-pod"] if light else
                [f"{bin_dir}/skewless-pod-server", "--service-time-us", "0"])
        self.proc = subprocess.Popen(
            argv + ["--name", name, "--zone", "bench", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            preexec_fn=on_cpu(cpu))
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            raise RuntimeError(f"pod server did not start: {line}")
        self.address = line[1]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=10)
        return json.loads(out.strip().splitlines()[-1])


def loadgen(bin_dir, target, clients, concurrency, seconds):
    out = subprocess.run(
        [f"{bin_dir}/skewless-loadgen", "--target", target, "--clients", str(clients),
         "--concurrency", str(concurrency), "--duration", f"{seconds}s", "--quiet"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def h2load(target, clients, concurrency, seconds, body_path):
    """The same unary Work call, framed by hand (5-byte gRPC prefix of an
    empty message), driven by nghttp2's h2load: the reference generator."""
    out = subprocess.run(
        ["h2load", "-D", str(seconds), "-c", str(clients), "-m", str(concurrency),
         "-t", "1", "-d", body_path,
         "-H", "content-type: application/grpc", "-H", "te: trailers",
         f"http://{target}/skewless.lab.v1.Echo/Work"],
        check=True, capture_output=True, text=True).stdout
    match = re.search(r"finished in [^,]+, ([0-9.]+) req/s", out)
    ok = re.search(r"requests: .* (\d+) succeeded", out)
    if not match or not ok or int(ok.group(1)) == 0:
        raise RuntimeError(f"h2load output not understood:\n{out}")
    return float(match.group(1))


def generator_ceiling(bin_dir, seconds, shapes):
    """Our generator against h2load, same server, same shape, alternating."""
    rows = []
    body = tempfile.NamedTemporaryFile(delete=False)
    body.write(b"\x00\x00\x00\x00\x00")
    body.close()
    server = PodServer(bin_dir)
    try:
        for clients, concurrency in shapes:
            say(f"generator ceiling: {clients} clients x {concurrency} outstanding")
            ours = loadgen(bin_dir, server.address, clients, concurrency, seconds)
            theirs = h2load(server.address, clients, concurrency, seconds, body.name)
            rows.append({"clients": clients, "concurrency": concurrency,
                         "loadgen_rps": ours["achieved_rps"], "h2load_rps": theirs,
                         "loadgen_p50_ms": ours["latency"]["summary_us"]["p50"] / 1000.0,
                         "errors": ours["errors"]})
    finally:
        server.stop()
        os.unlink(body.name)
    return rows


def lab_run(bin_dir, dataplane, seconds, extra):
    out = subprocess.run(
        [f"{bin_dir}/skewless-lab", "run", "--dataplane", dataplane, "--duration", f"{seconds}s",
         "-o", "json"] + extra,
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def connect_cost(bin_dir, counts, connects):
    """connect() to a VIP: no hook, skewless's hook, kube-proxy's iptables and
    nftables rules, each with `counts` Services programmed, in one process."""
    say(f"connect cost: {', '.join(map(str, counts))} Services, {connects} connects each")
    proc = subprocess.run(
        [f"{bin_dir}/skewless-connect-bench", "--services", ",".join(map(str, counts)),
         "--connects", str(connects)],
        stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout)["rows"]


def baselines(bin_dir, seconds):
    """kube-proxy's two modes through the lab, closed loop and fixed rate."""
    rows = []
    for label, extra in (("closed loop, 12 clients x 4", ["--service-time-us", "0"]),
                         ("fixed 2000 rps, 1 ms service", ["--rate", "2000"])):
        for dataplane, more in (("iptables", []), ("nftables", []), ("skewless", []),
                                ("skewless", ["--traffic-distribution", "PreferClose"])):
            say(f"lab: {dataplane} {' '.join(more)}, {label}")
            r = lab_run(bin_dir, dataplane, seconds, extra + more)
            rows.append({"workload": label, "dataplane": r["label"], "rps": r["achieved_rps"],
                         "p50_ms": r["latency_ms"]["p50"], "p99_ms": r["latency_ms"]["p99"],
                         "max_over_mean": r["spread"]["max_over_mean"],
                         "cv": r["spread"]["coefficient_of_variation"],
                         "idle": r["spread"]["idle_pods"], "pods": len(r["pods"]),
                         "cross_zone": r["cross_zone_share"], "errors": r["errors"]})
    return rows


def xds_bench(bin_dir, quick):
    """The control plane against the simulated Kubernetes API (skewless-xds-bench)."""
    runs = []
    scenarios = ([(200, 10, 200, 50, True)] if quick else
                 [(1000, 10, 1000, 200, True), (10000, 10, 1000, 20, False)])
    for services, endpoints, streams, changes, propagation in scenarios:
        say(f"xds: {services} services x {endpoints} endpoints, {streams} streams")
        argv = [f"{bin_dir}/skewless-xds-bench", "--controlplane", f"{bin_dir}/skewless-controlplane",
                "--services", str(services), "--endpoints", str(endpoints),
                "--streams", str(streams), "--changes", str(changes)]
        if not propagation:
            argv.append("--no-propagation")
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return runs


XDS_BEGIN = "<!-- xds-bench:begin -->"
XDS_END = "<!-- xds-bench:end -->"


def xds_section(command, runs):
    mib = lambda kib: f"{kib / 1024:.0f} MiB"
    lines = [
        XDS_BEGIN,
        "## Control plane: propagation, fan-out, memory",
        "",
        f"`{command}` on {platform.node()} ({os.cpu_count()} cores), "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
        "`skewless-controlplane` runs as its own process, watching a simulated Kubernetes API "
        "(tests/support: real list/watch protocol, chunked watch events); the bench changes one "
        "EndpointSlice at a time (one endpoint flips ready) and times its arrival at ADS clients "
        "(proxyless-gRPC view, SotW, EDS). The floor is the API server's own watch delivery of "
        "the same event to a plain watcher; the control plane adds the source's 10 ms debounce, "
        "the snapshot, the resource cache and the push.",
        "",
        "| endpoints | propagation p50 / p99 | watch floor p50 / p99 | ratio p50 | "
        "push to all streams p50 / p99 | streams | RSS idle | RSS with streams | peak |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    def pair(summary, digits):
        if not summary:
            return "not measured"
        return f"{summary['p50_ms']:.{digits}f} / {summary['p99_ms']:.{digits}f} ms"

    for r in runs:
        prop, watch = r.get("propagation"), r.get("watch_delivery")
        ratio = f"{prop['p50_ms'] / max(watch['p50_ms'], 0.001):.0f}x" if prop and watch else "–"
        lines.append(
            f"| {r['endpoints']:,} ({r['services']:,} Services) | {pair(prop, 1)} "
            f"| {pair(watch, 2)} | {ratio} | {pair(r.get('push_to_all'), 0)} "
            f"| {r['streams']:,} | {mib(r['rss_idle_kib'])} | {mib(r.get('rss_streams_kib', 0))} "
            f"| {mib(r.get('hwm_kib', 0))} |")
    goals = []
    for r in runs:
        if "propagation" in r:
            ok = r["propagation"]["p99_ms"] < 50
            goals.append(f"p99 propagation under 50 ms at {r['endpoints']:,} endpoints: "
                         f"{'met' if ok else 'NOT met'} ({r['propagation']['p99_ms']:.1f} ms)")
        if r["endpoints"] >= 100000:
            ok = r.get("rss_streams_kib", 0) < 200 * 1024
            goals.append(f"{r['endpoints']:,} endpoints and {r['streams']:,} streams under 200 MiB: "
                         f"{'met' if ok else 'NOT met'} ({mib(r.get('rss_streams_kib', 0))})")
    lines += ["", "Goals: " + "; ".join(goals) + "." if goals else "", "",
              "Push to all streams: time from the EndpointSlice change until the last of the "
              "streams (all subscribed to the changed Service) has its update; 2 cores serve "
              "the API simulator, the control plane and every client here.", XDS_END]
    return "\n".join(lines)


def splice_section(path, section, begin=XDS_BEGIN, end=XDS_END):
    """Replaces one marked section of an existing report (or appends it)."""
    text = open(path).read() if os.path.exists(path) else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def agent_bench(bin_dir, quick):
    """The node agent against the control plane on the simulated API (skewless-agent-bench)."""
    runs = []
    scenarios = [(200, 10, 10, 3)] if quick else [(1000, 10, 50, 10), (10000, 10, 20, 10)]
    for services, endpoints, changes, idle in scenarios:
        say(f"agent: {services} services x {endpoints} endpoints")
        argv = [f"{bin_dir}/skewless-agent-bench", "--controlplane",
                f"{bin_dir}/skewless-controlplane", "--agent", f"{bin_dir}/skewless-agent",
                "--services", str(services), "--endpoints", str(endpoints),
                "--changes", str(changes), "--idle-seconds", str(idle)]
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return runs


AGENT_BEGIN = "<!-- agent-bench:begin -->"
AGENT_END = "<!-- agent-bench:end -->"
# Databricks' published figures for their xDS node agent (not measured here).
DATABRICKS_AGENT_MIB = 25
DATABRICKS_AGENT_CPU_PERCENT = 0.1


def agent_section(command, runs):
    mib = lambda kib: f"{kib / 1024:.1f} MiB"
    lines = [
        AGENT_BEGIN,
        "## Node agent: memory, CPU, apply latency",
        "",
        f"`{command}` on {platform.node()} ({os.cpu_count()} cores), "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
        "`skewless-agent` runs as its own process with its data path attached to an empty cgroup "
        "of the bench's own, following `skewless-controlplane` (delta ADS), which watches the "
        "simulated Kubernetes API. Apply latency: from an EndpointSlice change (one endpoint "
        "flips ready) at the API to the agent's swap of that Service's backend set in the BPF "
        "maps; it includes the control plane's 10 ms debounce and push. CPU is a share of one "
        "core: idle (no changes) and under churn (the bench's change rate). The table's agent "
        "talks plaintext (`--plaintext`); the TLS columns are the same agent, idle, against a "
        "control plane serving TLS, verifying it with `--controlplane-ca-file` (OpenSSL).",
        "",
        "| endpoints | first sync | apply p50 / p99 | agent's own apply (mean) | RSS idle "
        "| of which shared-library pages | peak | CPU idle | CPU under churn "
        "| RSS idle over TLS | TLS / plaintext |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['endpoints']:,} ({r['services']:,} Services) | {r['sync_ms'] / 1000:.2f} s "
            f"| {r['apply']['p50_ms']:.0f} / {r['apply']['p99_ms']:.0f} ms "
            f"| {r['agent_apply_mean_ms']:.1f} ms | {mib(r['rss_idle_kib'])} "
            f"| {mib(r['rss_idle_file_kib'])} | {mib(r['hwm_kib'])} "
            f"| {r['cpu_idle_percent']:.2f}% | {r['cpu_churn_percent']:.1f}% "
            f"({r['changes_per_second']:.0f} changes/s) "
            f"| {mib(r['rss_idle_tls_kib'])} (+{mib(r['rss_idle_tls_kib'] - r['rss_idle_kib'])}) "
            f"| {r['rss_idle_tls_kib'] / r['rss_idle_kib']:.2f}x |")
    goals = []
    for r in runs:
        if r["endpoints"] == 10000:
            ok = r["rss_idle_kib"] < 20 * 1024
            goals.append(
                f"under 20 MiB resident at 10,000 endpoints: {'met' if ok else 'NOT met'} "
                f"({mib(r['rss_idle_kib'])}; {mib(r['rss_idle_anon_kib'])} of it the agent's own "
                f"anonymous memory (heap, stacks), {mib(r['rss_idle_file_kib'])} file pages of the "
                "binary and Debian's shared libraries: protobuf, libstdc++, libc, nghttp2, "
                "libevent, libbpf, libssl; the agent does not link libgrpc)")
            goals.append(
                f"over TLS at 10,000 endpoints: {mib(r['rss_idle_tls_kib'])} resident, "
                f"{r['rss_idle_tls_kib'] / r['rss_idle_kib']:.2f}x of plaintext "
                f"({'under' if r['rss_idle_tls_kib'] < 20 * 1024 else 'NOT under'} 20 MiB)")
            goals.append(
                f"against Databricks' published agent figures (<{DATABRICKS_AGENT_MIB} MiB, "
                f"<{DATABRICKS_AGENT_CPU_PERCENT}% CPU): memory "
                f"{r['rss_idle_kib'] / 1024 / DATABRICKS_AGENT_MIB:.2f}x of theirs, idle CPU "
                f"{r['cpu_idle_percent']:.2f}% (published numbers, not a side-by-side run)")
    lines += ["", "Goals: " + "; ".join(goals) + "." if goals else "", AGENT_END]
    return "\n".join(lines)


# --- The HTTP/2 splicer next to nginx and HAProxy (issue #6) ----------------------------

SPLICER_BEGIN = "<!-- splicer-bench:begin -->"
SPLICER_END = "<!-- splicer-bench:end -->"
CONFIGS = os.path.join(ROOT, "bench", "configs")
ECHO_WORK = "/skewless.lab.v1.Echo/Work"
SPLICER_PODS = 4
PEAK_CLIENTS, PEAK_STREAMS = 8, 16  # h2load's shape for the peak runs
FIXED_CLIENTS, FIXED_OUTSTANDING = 8, 16  # skewless-h2-pace's shape for the fixed loads
FIXED_FRACTIONS = (0.25, 0.5)  # of the splicer's peak in the pinned layout
GOAL_ADDED_P99_US = 100
# The pinned layout of the latency rows: the proxy alone on one core, everything else
# (pods, generator, this script) on the other, as on a node where the proxy's load is a
# small part of many cores. Each proxy runs with one worker (thread) there.
LOAD_CPU, PROXY_CPU = 0, 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat(pid):
    """/proc/PID/stat fields after the command name: [0] is state, [1] ppid, [11] utime."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pids):
    """utime + stime of whole processes (all their threads), summed."""
    ticks = 0
    for pid in pids:
        fields = proc_stat(pid)
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def child_pids(parent):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(proc_stat(entry)[1]) == parent:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def memory_kib(pids):
    """VmRSS, VmHWM (peak RSS) and Pss (shared pages split between their users), summed."""
    total = {"rss": 0, "hwm": 0, "pss": 0}
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total["rss"] += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    total["hwm"] += int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    total["pss"] += int(line.split()[1])
    return total


def process_cpu_ticks():
    """{pid: (ppid, utime + stime + reaped children's)} of every user-space process: a
    process that ends between two snapshots is then counted in its parent's."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = proc_stat(entry)
            except OSError:
                continue
            if int(fields[6]) & 0x00200000:  # PF_KTHREAD: the kernel's own threads
                continue
            table[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    return table


def others_cpu_seconds(before, after):
    """CPU that user-space processes outside this bench's own process tree used between
    two process_cpu_ticks() snapshots: whatever else the machine was doing."""
    parents = {pid: ppid for table in (before, after) for pid, (ppid, _) in table.items()}
    ours = {os.getpid()}
    changed = True
    while changed:
        grown = {pid for pid, ppid in parents.items() if ppid in ours} - ours
        changed = bool(grown)
        ours |= grown
    total = lambda table: sum(t for pid, (_, t) in table.items() if pid not in ours)
    return max(0, total(after) - total(before)) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    """CPU of children already waited for: the generator runs (subprocess.run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pin_process(pid, cpu):
    """Every thread of `pid` onto `cpu` (sched_setaffinity on a pid moves one thread only);
    threads started later inherit it from their creator."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except ProcessLookupError:
            pass  # the thread ended meanwhile


def threads_on(pids, cpu):
    """True when every thread of `pids` may run on `cpu` only."""
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                if os.sched_getaffinity(int(tid)) != {cpu}:
                    return False
            except ProcessLookupError:
                pass  # the thread ended meanwhile
    return True


def on_cpu(cpu):
    """A subprocess preexec_fn: the child (and all it starts) runs on `cpu` only."""
    return None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))


def per_cpu_ticks():
    """{cpu: (busy, total)} from /proc/stat's cpuN lines (busy: all but idle and iowait)."""
    ticks = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit():
                values = [int(x) for x in fields[:8]]
                ticks[int(name[3:])] = (sum(values) - values[3] - values[4], sum(values))
    return ticks


def cpu_busy(before, after):
    """{cpu: fraction of the time it was busy} between two per_cpu_ticks() snapshots."""
    return {cpu: (after[cpu][0] - before[cpu][0]) / max(1, after[cpu][1] - before[cpu][1])
            for cpu in after}


def varints(data):
    """(field number, value) of a protobuf message's varint fields (the rest skipped)."""
    fields, i = [], 0
    while i < len(data):
        key, i = varint(data, i)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, i = varint(data, i)
            fields.append((number, value))
        elif kind == 2:
            length, i = varint(data, i)
            i += length
        else:
            raise ValueError(f"unexpected protobuf wire type {kind}")
    return fields


def varint(data, i):
    value, shift = 0, 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if byte < 0x80:
            return value, i


def pod_stats(pod, body_path):
    """A pod's own counters from its Stats call (nghttp, h2c): {work_served,
    connections_seen} (StatsReply fields 3 and 4)."""
    out = subprocess.run(
        ["nghttp", "-d", body_path, "-H", "content-type: application/grpc",
         "-H", "te: trailers", f"http://{pod.address}/skewless.lab.v1.Echo/Stats"],
        check=True, capture_output=True, timeout=10).stdout
    if len(out) < 5 or int.from_bytes(out[1:5], "big") != len(out) - 5:
        raise RuntimeError(f"{pod.name}: Stats reply not understood: {out!r}")
    fields = dict(varints(out[5:]))
    return {"work_served": fields.get(3, 0), "connections_seen": fields.get(4, 0)}


def wait_connectable(port, proc, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}) before it listened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} does not listen on 127.0.0.1:{port} after {timeout:.0f} s")


class Proxy:
    """One proxy process (and, for nginx, its workers) started from a config of ours."""

    def __init__(self, name, label, version, argv, tmp, port=None, ready_pattern=None, cpu=None):
        self.name, self.label, self.version = name, label, version
        self.log_path = os.path.join(tmp, f"{name}{'' if cpu is None else f'-cpu{cpu}'}.log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=on_cpu(cpu))
        try:
            if ready_pattern:  # the port is in its first log line
                deadline = time.monotonic() + 10
                while True:
                    match = re.search(ready_pattern, open(self.log_path).read())
                    if match:
                        port = int(match.group(1))
                        break
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{name} did not start:\n{self.log_tail()}")
                    time.sleep(0.02)
            wait_connectable(port, self.proc, name)
        except Exception:
            self.stop()
            raise
        self.address = f"127.0.0.1:{port}"

    def pids(self):
        return [self.proc.pid] + child_pids(self.proc.pid)

    def log_tail(self):
        with open(self.log_path) as f:
            return "".join(f.readlines()[-20:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Direct:
    """No proxy: the generator talks to one pod."""
    name, label, version = "direct", "direct to one pod", ""

    def __init__(self, pod):
        self.address = pod.address
        self.workers = 0

    def pids(self):
        return []

    def stop(self):
        pass


def render(template, path, **values):
    with open(os.path.join(CONFIGS, template)) as f:
        text = string.Template(f.read()).substitute(values)
    with open(path, "w") as f:
        f.write(text)
    return path


def start_splicer(bin_dir, tmp, pods, workers, cpu=None):
    argv = [f"{bin_dir}/skewless-splicer", "--listen", "127.0.0.1:0", "--http-listen",
            "127.0.0.1:0", "--workers", str(workers), "--drain-seconds", "1"]
    for pod in pods:
        argv += ["--backend", pod.address]
    proxy = Proxy("splicer", "skewless-splicer", "", argv, tmp, cpu=cpu,
                  ready_pattern=r'msg="splicer listening" port=(\d+)')
    proxy.workers = workers
    return proxy


def start_nginx(tmp, pods, workers, cpu=None):
    port = free_port()
    home = os.path.join(tmp, "nginx" if cpu is None else f"nginx-cpu{cpu}")
    os.mkdir(home)
    conf = render("nginx-grpc.conf.tmpl", os.path.join(home, "nginx.conf"), workers=workers,
                  dir=home, listen=f"127.0.0.1:{port}",
                  servers="\n".join(f"        server {p.address};" for p in pods))
    version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
    version = version.strip().split("/")[-1]
    # -e: the error log before the config is read (not Debian's /var/log/nginx).
    proxy = Proxy("nginx", "nginx grpc_pass", f"nginx {version}",
                  ["nginx", "-p", home, "-e", os.path.join(home, "error.log"), "-c", conf,
                   "-g", "daemon off;"], tmp, port=port, cpu=cpu)
    proxy.workers = workers
    return proxy


def start_haproxy(tmp, pods, threads, cpu=None):
    port = free_port()
    name = "haproxy.cfg" if cpu is None else f"haproxy-cpu{cpu}.cfg"
    cfg = render("haproxy-h2.cfg.tmpl", os.path.join(tmp, name), threads=threads,
                 dir=tmp, listen=f"127.0.0.1:{port}",
                 servers="\n".join(f"    server {p.name} {p.address} proto h2" for p in pods))
    version = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
    version = re.search(r"version (\S+)", version).group(1).split("-")[0]
    proxy = Proxy("haproxy", "HAProxy h2", f"HAProxy {version}",
                  ["haproxy", "-f", cfg, "-db"], tmp, port=port, cpu=cpu)
    proxy.workers = threads
    return proxy


def start_haproxy_tcp(tmp, pods, cpu):
    """HAProxy in TCP mode, one thread on core `cpu`: the floor of a user-space hop."""
    port = free_port()
    cfg = render("haproxy-tcp.cfg.tmpl", os.path.join(tmp, f"haproxy-tcp-cpu{cpu}.cfg"),
                 threads=1, dir=tmp, listen=f"127.0.0.1:{port}",
                 servers="\n".join(f"    server {p.name} {p.address}" for p in pods))
    version = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
    version = re.search(r"version (\S+)", version).group(1).split("-")[0]
    proxy = Proxy("relay", "HAProxy TCP relay (L4)", f"HAProxy {version}",
                  ["haproxy", "-f", cfg, "-db"], tmp, port=port, cpu=cpu)
    proxy.workers = 1
    return proxy


def h2load_detail(address, clients, streams, seconds, body_path, cpu=None):
    """h2load's closed loop (the Work call framed as in h2load()), every count parsed;
    on core `cpu` only if given."""
    out = subprocess.run(
        ["h2load", "-D", str(seconds), "-c", str(clients), "-m", str(streams), "-t", "1",
         "-d", body_path, "-H", "content-type: application/grpc", "-H", "te: trailers",
         f"http://{address}{ECHO_WORK}"],
        check=True, capture_output=True, text=True, timeout=seconds + 60,
        preexec_fn=on_cpu(cpu)).stdout
    rps = re.search(r"finished in [^,]+, ([0-9.]+) req/s", out)
    req = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    status = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not rps or not req or not status:
        raise RuntimeError(f"h2load output not understood:\n{out}")
    return {"rps": float(rps.group(1)), "succeeded": int(req.group(1)),
            "failed": int(req.group(2)) + int(req.group(3)) + int(req.group(4)),
            "status_2xx": int(status.group(1)),
            "status_other": sum(int(status.group(i)) for i in (2, 3, 4))}


def pace_fixed(bin_dir, address, rate, seconds, warmup_ms, pods, body_path):
    """skewless-h2-pace at a fixed rate on the load core: evenly paced over its
    connections, latency from each call's intended send time, the gRPC status of every call
    checked; and each pod's own count of what it served (its Stats, before and after)."""
    before = [pod_stats(p, body_path) for p in pods]
    proc = subprocess.run(
        [f"{bin_dir}/skewless-h2-pace", "--target", address, "--rate", f"{rate:.0f}",
         "--connections", str(FIXED_CLIENTS), "--max-in-flight", str(FIXED_OUTSTANDING),
         "--duration", f"{seconds}s", "--warmup", f"{warmup_ms}ms"],
        capture_output=True, text=True, timeout=seconds + 60, preexec_fn=on_cpu(LOAD_CPU))
    if proc.returncode != 0:
        raise RuntimeError(f"skewless-h2-pace to {address} exited {proc.returncode}: "
                           f"{proc.stderr.strip()}")
    r = json.loads(proc.stdout)
    after = [pod_stats(p, body_path) for p in pods]
    served = {p.name: a["work_served"] - b["work_served"] for p, b, a in zip(pods, before, after)}
    return {"offered_rps": rate, "achieved_rps": r["achieved_rps"], "rpcs": r["rpcs"],
            "errors": r["errors"], "errors_by_code": r["errors_by_code"],
            "unsent": r["unsent"], "p50_us": r["latency_us"]["p50"],
            "p99_us": r["latency_us"]["p99"], "p999_us": r["latency_us"]["p999"],
            "pace_cpu_s": r["cpu_s"], "pace_calls": r["calls_ended"], "served": served,
            "new_pod_connections": sum(a["connections_seen"] - b["connections_seen"]
                                       for b, a in zip(before, after))}


def generator_cost(bin_dir, address, rate, seconds, warmup_ms):
    """CPU per call of skewless-loadgen (gRPC C++) and skewless-h2-pace, each alone at the
    same rate to the same pod, on the load core, both measured from outside (the child's
    rusage: startup, connects and warm-up included) over every call that ended."""
    shape = ["--duration", f"{seconds}s", "--warmup", f"{warmup_ms}ms"]
    runs = {
        "skewless-loadgen": [f"{bin_dir}/skewless-loadgen", "--target", address, "--clients",
                             str(FIXED_CLIENTS), "--concurrency", str(FIXED_OUTSTANDING),
                             "--rate", f"{rate:.0f}", "--quiet"] + shape,
        "skewless-h2-pace": [f"{bin_dir}/skewless-h2-pace", "--target", address, "--rate",
                             f"{rate:.0f}", "--connections", str(FIXED_CLIENTS),
                             "--max-in-flight", str(FIXED_OUTSTANDING)] + shape,
    }
    cost = {}
    for name, argv in runs.items():
        say(f"splicer bench: generator cost, {name} at {rate:,.0f} RPC/s direct to one pod")
        cpu = children_cpu_seconds()
        r = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True,
                                      timeout=seconds + 60, preexec_fn=on_cpu(LOAD_CPU)).stdout)
        cpu = children_cpu_seconds() - cpu
        calls = r["rpcs"] + r["errors"] + r["warmup_rpcs"]
        cost[name] = {"cpu_s": cpu, "calls": calls, "us_per_call": cpu * 1e6 / max(calls, 1),
                      "achieved_rps": r["achieved_rps"], "errors": r["errors"]}
    return cost


def syscall_counter(pids):
    """perf stat on the proxy's processes (syscalls, and those that write to a socket),
    or None without a working perf. Stopped with SIGINT; see syscall_counts()."""
    if not pids or not shutil.which("perf"):
        return None
    events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{c}" for c in
                                           ("write", "writev", "sendto", "sendmsg")]
    proc = subprocess.Popen(["perf", "stat", "-x", ",", "-e", ",".join(events), "-p",
                             ",".join(map(str, pids))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)  # attached
    return proc if proc.poll() is None else None


def syscall_counts(proc):
    if proc is None:
        return None
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    counts = {}
    for line in err.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].strip().isdigit():
            counts[fields[2]] = int(fields[0])
    if "raw_syscalls:sys_enter" not in counts:
        return None
    return {"all": counts["raw_syscalls:sys_enter"],
            "writes": sum(v for k, v in counts.items() if k.startswith("syscalls:"))}


def accounted(target, pods, run):
    """Runs `run`, and says where the machine's CPU went meanwhile: the proxy's own
    processes, the pods, the generator, and everything else on the machine."""
    pids, pod_pids = target.pids(), [p.proc.pid for p in pods]
    everyone, cores_before = process_cpu_ticks(), per_cpu_ticks()
    before = (cpu_seconds(pids), cpu_seconds(pod_pids), children_cpu_seconds(),
              time.monotonic())
    result = run()
    after = (cpu_seconds(pids), cpu_seconds(pod_pids), children_cpu_seconds(),
             time.monotonic())
    proxy, pod, gen, wall = (b - a for a, b in zip(before, after))
    result.update(proxy_cpu_s=proxy, pods_cpu_s=pod, generator_cpu_s=gen, wall_s=wall,
                  cpu_busy=cpu_busy(cores_before, per_cpu_ticks()),
                  other_cores=min(os.cpu_count(),
                                  others_cpu_seconds(everyone, process_cpu_ticks()) / wall))
    return result


def best_fixed(tries):
    """The round with the lower p99 (noise on a shared machine only adds latency), with
    the failures and starved pods of every round."""
    best = dict(min(tries, key=lambda run: run["p99_us"]))
    best["errors"] = sum(run["errors"] for run in tries)
    best["errors_by_code"] = {}
    for run in tries:
        for code, n in run["errors_by_code"].items():
            best["errors_by_code"][code] = best["errors_by_code"].get(code, 0) + n
    best["starved"] = sorted({pod for run in tries for pod, n in run["served"].items() if n == 0})
    behind = lambda run: run["achieved_rps"] < 0.97 * run["offered_rps"]
    best["behind"] = behind(best)
    best["behind_rounds"] = [run["achieved_rps"] for run in tries if behind(run)]
    best["p99_rounds_us"] = [run["p99_us"] for run in tries]
    return best


def start_proxies(bin_dir, tmp, pods, workers, cpu, skipped):
    """The splicer, nginx and HAProxy in front of every pod, each with `workers` workers
    (threads), on core `cpu` only if given; direct first."""
    targets = [start_splicer(bin_dir, tmp, pods, workers, cpu)]
    for tool, start in (("nginx", lambda: start_nginx(tmp, pods, workers, cpu)),
                        ("haproxy", lambda: start_haproxy(tmp, pods, workers, cpu))):
        if shutil.which(tool):
            targets.append(start())
        elif cpu is None:
            skipped.append(f"{tool} is not installed (scripts/install-deps.sh installs it)")
    return [Direct(pods[0])] + targets


def peak_rounds(targets, pods, rounds, seconds, body, cpu=None):
    """h2load closed loop through every target, `rounds` times alternating the order."""
    runs = {t.name: [] for t in targets}
    for r in range(rounds):
        for t in (targets if r % 2 == 0 else targets[::-1]):
            say(f"splicer bench: peak through {t.label}{'' if cpu is None else ' (pinned)'} "
                f"(round {r + 1}/{rounds}, h2load {PEAK_CLIENTS} x {PEAK_STREAMS}, {seconds} s)")
            runs[t.name].append(accounted(t, pods, lambda: h2load_detail(
                t.address, PEAK_CLIENTS, PEAK_STREAMS, seconds, body, cpu)))
    return runs


def splicer_bench(bin_dir, quick):
    """4 pods on loopback; direct to one, the splicer, nginx and HAProxy in front of all 4.
    Unpinned (sharing both cores, 2 workers each): peak (h2load), syscalls and memory.
    Pinned (the proxy alone on one core with 1 worker, pods and generator on the other):
    peak (h2load), then fixed loads (skewless-h2-pace) at fractions of the splicer's peak."""
    started = time.monotonic()
    cores = os.cpu_count()
    peak_seconds, rounds, warm_seconds = (2, 1, 1) if quick else (5, 2, 2)
    fixed_seconds, fixed_warmup_ms = (2, 300) if quick else (4, 1000)
    tmp = tempfile.mkdtemp(prefix="skewless-splicer-bench-")
    body = os.path.join(tmp, "work.grpc")
    with open(body, "wb") as f:
        f.write(b"\x00\x00\x00\x00\x00")  # an empty Work (or Stats) request, gRPC-framed
    pods, targets, floor, skipped, pod_totals = [], [], [], [], {}
    own_affinity = os.sched_getaffinity(0)
    try:
        for i in range(SPLICER_PODS):
            pods.append(PodServer(bin_dir, f"pod-{i}"))
        targets = start_proxies(bin_dir, tmp, pods, cores, None, skipped)
        runs = {t.name: {"workers": t.workers} for t in targets}

        # Warm-up: pools and caches filled, and the syscalls each proxy makes per call.
        for t in targets:
            say(f"splicer bench: warm-up through {t.label}")
            counter = syscall_counter(t.pids())
            warm = h2load_detail(t.address, PEAK_CLIENTS, PEAK_STREAMS, warm_seconds, body)
            counts = syscall_counts(counter)
            runs[t.name]["syscalls_per_call"] = (
                {k: v / max(warm["succeeded"], 1) for k, v in counts.items()} if counts else None)
        for name, peak_runs in peak_rounds(targets, pods, rounds, peak_seconds, body).items():
            runs[name]["peak"] = peak_runs
        for t in targets:
            if t.pids():
                runs[t.name]["memory_kib"] = memory_kib(t.pids())
                runs[t.name]["processes"] = len(t.pids())
        for t in targets:
            t.stop()
        for pod in pods:
            pod_totals[pod.name] = pod.stop()["work_served"]
        pods = []

        # The pinned layout: pods, generators and this script on LOAD_CPU; each proxy, with
        # one worker, alone on PROXY_CPU. The pods are skewless-h2-pods here: four gRPC C++
        # pods and the generator would fill LOAD_CPU long before the proxy's core, and that
        # queueing would be charged to the proxy as latency.
        say(f"splicer bench: {SPLICER_PODS} skewless-h2-pods on CPU {LOAD_CPU}, each proxy "
            f"(1 worker) on CPU {PROXY_CPU}")
        os.sched_setaffinity(0, {LOAD_CPU})
        for i in range(SPLICER_PODS):
            pods.append(PodServer(bin_dir, f"h2-pod-{i}", light=True, cpu=LOAD_CPU))
        for pod in pods:
            pin_process(pod.proc.pid, LOAD_CPU)
        targets = start_proxies(bin_dir, tmp, pods, 1, PROXY_CPU, [])
        floor = [start_haproxy_tcp(tmp, pods, PROXY_CPU)] if shutil.which("haproxy") else []
        pinned_ok = threads_on([p.proc.pid for p in pods], LOAD_CPU) and all(
            threads_on(t.pids(), PROXY_CPU) for t in targets + floor)
        for t in targets:
            say(f"splicer bench: warm-up through {t.label} (pinned)")
            h2load_detail(t.address, PEAK_CLIENTS, PEAK_STREAMS, warm_seconds, body, LOAD_CPU)
        for name, peak_runs in peak_rounds(targets, pods, rounds, peak_seconds, body,
                                           LOAD_CPU).items():
            runs[name]["pinned_peak"] = peak_runs
            runs[name]["pinned_workers"] = 1

        splicer_peak = max(run["rps"] for run in runs["splicer"]["pinned_peak"])
        rates = [fraction * splicer_peak for fraction in FIXED_FRACTIONS]
        for t in targets + floor:
            runs.setdefault(t.name, {"workers": 1})["fixed_runs"] = [[] for _ in rates]
        for r in range(rounds):
            for i, (fraction, rate) in enumerate(zip(FIXED_FRACTIONS, rates)):
                for t in (targets + floor if r % 2 == 0 else (targets + floor)[::-1]):
                    say(f"splicer bench: {rate:.0f} RPC/s ({fraction:.0%} of the splicer's "
                        f"pinned peak) through {t.label} (round {r + 1}/{rounds})")
                    runs[t.name]["fixed_runs"][i].append(accounted(t, pods, lambda: pace_fixed(
                        bin_dir, t.address, rate, fixed_seconds, fixed_warmup_ms, pods, body)))
        for t in targets + floor:
            runs[t.name]["fixed"] = [best_fixed(tries) for tries in runs[t.name]["fixed_runs"]]
        pinned_ok = pinned_ok and threads_on([p.proc.pid for p in pods], LOAD_CPU) and all(
            threads_on(t.pids(), PROXY_CPU) for t in targets + floor)
        generators = generator_cost(bin_dir, pods[0].address, rates[0], fixed_seconds,
                                    fixed_warmup_ms)
    finally:
        for t in targets + floor:
            t.stop()
        os.sched_setaffinity(0, own_affinity)
        for pod in pods:
            try:
                pod_totals[pod.name] = pod.stop()["work_served"]
            except Exception as e:  # noqa: BLE001 - report, keep cleaning up
                say(f"splicer bench: {pod.name} did not stop cleanly: {e}")
        shutil.rmtree(tmp, ignore_errors=True)
    return {"cores": cores, "targets": [{"name": t.name, "label": t.label,
                                         "version": t.version, **runs[t.name]} for t in targets],
            "floor": [{"name": t.name, "label": t.label, "version": t.version,
                       **runs[t.name]} for t in floor],
            "splicer_peak_rps": splicer_peak, "rates": rates, "pod_totals": pod_totals,
            "skipped": skipped, "peak_seconds": peak_seconds, "rounds": rounds,
            "fixed_seconds": fixed_seconds, "h2load": h2load_version(),
            "pinned_ok": pinned_ok, "generators": generators,
            "wall_s": time.monotonic() - started}


def h2load_version():
    out = subprocess.run(["h2load", "--version"], capture_output=True, text=True).stdout
    return out.strip().split()[-1] if out.strip() else "h2load"


def splicer_section(command, r):
    targets = {t["name"]: t for t in r["targets"]}
    order = [t["name"] for t in r["targets"]]
    cores = r["cores"]
    direct, splicer = targets["direct"], targets["splicer"]
    # The L4 relay measured only in the pinned fixed loads: the floor of a user-space hop.
    floor = r.get("floor", [])
    fixed_targets = {**targets, **{t["name"]: t for t in floor}}
    fixed_order = order + [t["name"] for t in floor]

    def best(runs):
        return max(runs, key=lambda run: run["rps"])

    def best_peak(t):
        return best(t["peak"])

    def peak(t):
        return best_peak(t)["rps"]

    def pinned_peak(t):
        return best(t["pinned_peak"])["rps"]

    def per_cpu_second(t):
        cpu = sum(run["proxy_cpu_s"] for run in t["peak"])
        return sum(run["succeeded"] for run in t["peak"]) / cpu if cpu > 0 else None

    def mean(values):
        values = list(values)
        return sum(values) / len(values) if values else 0.0

    def ratio(a, b, digits=2):
        return f"{a / b:.{digits}f}x" if a is not None and b and b > 0 else "–"

    def busy(run, cpu):
        return f"{100 * run['cpu_busy'].get(cpu, 0):.0f} %"

    def described(workers):
        text = {"splicer": f"`skewless-splicer --workers {workers}`",
                "nginx": f"{targets['nginx']['version']} (`grpc_pass`, {workers} "
                f"worker{'s' if workers > 1 else ''})" if "nginx" in targets else "",
                "haproxy": f"{targets['haproxy']['version']} ({workers} "
                f"thread{'s' if workers > 1 else ''}, HTTP/2 to clients and pods)"
                if "haproxy" in targets else ""}
        proxies = [text[n] for n in order if text.get(n)]
        return f"{', '.join(proxies[:-1])} and {proxies[-1]}"

    lines = [
        SPLICER_BEGIN,
        "## HTTP/2 splicer next to nginx and HAProxy (per-request gRPC balancing)",
        "",
        f"`{command}` on {platform.node()} ({cores} cores), "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; "
        f"the section took {r['wall_s']:.0f} s. {SPLICER_PODS} pods on loopback with zero "
        "service time, and in front of all of them each proxy in turn; configs in "
        "[bench/configs/](../bench/configs/). `direct` is the generator talking to one pod. "
        "The call is the lab's unary `Echo.Work` with an empty message. Two layouts:",
        "",
        f"- **Shared cores** (throughput per core, syscalls, memory): {described(cores)}; the "
        f"generator, the proxy and the pods share the {cores} cores. The pods are the lab's "
        "`skewless-pod-server` (gRPC C++).",
        f"- **Pinned** (latency): the same proxies started again with one worker each, "
        f"{described(1)}, every thread of the proxy pinned to CPU {PROXY_CPU} alone; the "
        f"pods, the generators and the bench script pinned to CPU {LOAD_CPU}. As on a real "
        "node, where the proxy's load is a small part of many cores: the proxy's latency is "
        "not time spent waiting for a core the generator or the pods hold. The pods here are "
        "`skewless-h2-pod` (bench/h2_pod_server.cc: the same Echo calls and replies on one "
        "nghttp2 thread): four gRPC C++ pods and the generator filled CPU 0 at a quarter of "
        "the splicer's peak, and that queueing showed up as the proxy's latency.",
        "",
        f"**Peak, shared cores**: h2load ({r['h2load']}) closed loop, {PEAK_CLIENTS} "
        f"connections x {PEAK_STREAMS} streams, {r['peak_seconds']} s per run, {r['rounds']} "
        f"round{'s' if r['rounds'] > 1 else ''} alternating the order (best run shown; "
        "per-core figures use every run). *RPC per proxy CPU-second* is calls served over "
        "the CPU time (user + system, from /proc) of the proxy's own processes: throughput "
        "per core, independent of how the machine's cores were shared. *Syscalls per call* "
        "(perf stat on the proxy during a warm-up run): all, and in brackets those writing "
        "to a socket.",
        "",
        "| target | peak RPC/s | vs direct | proxy CPU at peak | RPC per proxy CPU-second "
        "| per core vs splicer | syscalls per call | h2load non-2xx / failed | other load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    splicer_per_cpu = per_cpu_second(splicer)
    for name in order:
        t = targets[name]
        failed = sum(run["failed"] for run in t["peak"])
        other = sum(run["status_other"] for run in t["peak"])
        if name == "direct":
            lines.append(f"| {t['label']} | {peak(t):,.0f} | 1.00x | – | – | – | – "
                         f"| {other} / {failed} | {best_peak(t)['other_cores']:.2f} |")
            continue
        cpu = per_cpu_second(t)
        used = mean(run["proxy_cpu_s"] / run["wall_s"] for run in t["peak"])
        sc = t.get("syscalls_per_call")
        sc_text = f"{sc['all']:.1f} ({sc['writes']:.1f})" if sc else "–"
        lines.append(
            f"| {t['label']} | {peak(t):,.0f} | {ratio(peak(t), peak(direct))} "
            f"| {used:.2f} cores | {cpu:,.0f} | {ratio(cpu, splicer_per_cpu)} | {sc_text} "
            f"| {other} / {failed} | {best_peak(t)['other_cores']:.2f} |")
    splicer_run = best_peak(splicer)
    lines += [
        "",
        f"Where the {cores} cores went in the splicer's best peak run: h2load "
        f"{splicer_run['generator_cpu_s'] / splicer_run['wall_s']:.2f}, the pods "
        f"{splicer_run['pods_cpu_s'] / splicer_run['wall_s']:.2f}, the splicer "
        f"{splicer_run['proxy_cpu_s'] / splicer_run['wall_s']:.2f} cores. Peak RPC/s is "
        "therefore the whole machine's ceiling with that proxy in the path; on loopback the "
        "kernel's TCP receive work for a peer partly runs in (and is charged to) the sender.",
        "",
        f"**Peak, pinned**: the same h2load runs (on CPU {LOAD_CPU}, with the pods) through "
        f"each proxy alone on CPU {PROXY_CPU}. *CPU 0* and *CPU 1*: how busy each core was "
        "during the run (from /proc/stat); *proxy CPU*: the proxy's own processes (from "
        "/proc), as a share of its core.",
        "",
        "| target | peak RPC/s | vs direct | vs shared-cores peak | CPU 0 | CPU 1 | proxy CPU "
        "| h2load non-2xx / failed | other load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in order:
        t = targets[name]
        run = best(t["pinned_peak"])
        failed = sum(x["failed"] for x in t["pinned_peak"])
        other = sum(x["status_other"] for x in t["pinned_peak"])
        proxy = f"{100 * run['proxy_cpu_s'] / run['wall_s']:.0f} %" if name != "direct" else "–"
        lines.append(
            f"| {t['label']} | {run['rps']:,.0f} | {ratio(run['rps'], pinned_peak(direct))} "
            f"| {ratio(run['rps'], peak(t))} | {busy(run, LOAD_CPU)} | {busy(run, PROXY_CPU)} "
            f"| {proxy} | {other} / {failed} | {run['other_cores']:.2f} |")
    sp = best(splicer["pinned_peak"])
    limit = (f"CPU {LOAD_CPU} (the pods and h2load) was the limit"
             if sp["cpu_busy"].get(LOAD_CPU, 0) > sp["cpu_busy"].get(PROXY_CPU, 0)
             else f"CPU {PROXY_CPU} (the splicer) was the limit")
    lines += [
        "",
        f"The splicer's pinned peak is {r['splicer_peak_rps']:,.0f} RPC/s, "
        f"{ratio(r['splicer_peak_rps'], peak(splicer))} its shared-cores peak "
        f"({peak(splicer):,.0f} RPC/s with 2 workers and both cores); in that run CPU "
        f"{LOAD_CPU} was {busy(sp, LOAD_CPU)} and CPU {PROXY_CPU} {busy(sp, PROXY_CPU)} busy "
        f"(the splicer itself {100 * sp['proxy_cpu_s'] / sp['wall_s']:.0f} % of its core): "
        f"{limit}.",
        "",
        f"**Fixed loads, pinned**: {', '.join(f'{f:.0%}' for f in FIXED_FRACTIONS)} of the "
        f"splicer's pinned peak ({r['splicer_peak_rps']:,.0f} RPC/s), driven by "
        f"`skewless-h2-pace` (bench/h2_pace.cc: one thread, nghttp2 and epoll) on CPU "
        f"{LOAD_CPU}: {FIXED_CLIENTS} h2c connections, at most {FIXED_OUTSTANDING} calls in "
        f"flight on each, {r['fixed_seconds']} s after a warm-up, {r['rounds']} "
        f"round{'s' if r['rounds'] > 1 else ''} alternating the order, the round with the "
        "lower p99 shown, failures of every round counted. Calls are evenly paced (call i "
        "due at start + i/rate, round-robin over the connections), latency is counted from "
        "each call's due time (a stalled proxy is charged for the calls it held up; a call "
        "waiting for a free slot keeps its due time), HTTP status 200 and grpc-status 0 are "
        "checked on every call, and the pods' own counts (their Stats call) say what each "
        "served. *Added* is the target's latency minus `direct`'s at the same load; in "
        "brackets, as a multiple of the splicer's added latency (below 1x: less than the "
        "splicer adds). *CPU 0*, *CPU 1*: how busy each core was during the row."
        + (" *HAProxy TCP relay (L4)* is not a per-request balancer: HAProxy in TCP mode, "
           "1 thread on CPU 1, copying each connection's bytes to a pod chosen per "
           "connection ([config](../bench/configs/haproxy-tcp.cfg.tmpl)). It is the floor of "
           "one user-space hop on this machine: the loopback crossings and cross-core "
           "wake-ups that any proxy in the path adds, with no HTTP/2 work at all."
           if floor else ""),
        "",
        "| load | target | achieved RPC/s | p50 | p99 | added p50 | added p99 | CPU 0 | CPU 1 "
        "| proxy CPU | pods' shares | new pod connections | errors | other load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    problems = list(r["skipped"])
    if not r["pinned_ok"]:
        problems.append("some thread of the pods or of a pinned proxy was not on its core")
    overloaded = []
    for i, fraction in enumerate(FIXED_FRACTIONS):
        base = direct["fixed"][i]
        ref = splicer["fixed"][i]
        ref_added = (ref["p50_us"] - base["p50_us"], ref["p99_us"] - base["p99_us"])
        for name in fixed_order:
            t = fixed_targets[name]
            run = t["fixed"][i]
            served = run["served"]
            total = sum(served.values()) or 1
            if name == "direct":
                shares = "one pod"
                added = ("–", "–")
                proxy = "–"
            else:
                shares = " / ".join(f"{100 * served[p] / total:.0f}" for p in sorted(served)) + " %"
                added = []
                for k, key in enumerate(("p50_us", "p99_us")):
                    value = run[key] - base[key]
                    rel = (f" ({value / ref_added[k]:.2f}x)"
                           if name != "splicer" and ref_added[k] > 0 and value > 0 else "")
                    added.append(f"{value:+,.0f} µs{rel}")
                proxy = f"{100 * run['proxy_cpu_s'] / run['wall_s']:.0f} %"
                if run["starved"]:
                    problems.append(f"{t['label']} sent no call to {', '.join(run['starved'])}")
            if run["behind_rounds"]:
                overloaded.append(
                    f"{t['label']} at {run['offered_rps']:,.0f} RPC/s ("
                    + ", ".join(f"{a:,.0f}" for a in run["behind_rounds"]) + " achieved in "
                    f"{len(run['behind_rounds'])} of {len(run['p99_rounds_us'])} rounds)")
            if run["errors"]:
                problems.append(f"{t['label']}: {run['errors']} failed calls "
                                f"{json.dumps(run['errors_by_code'])}")
            lines.append(
                f"| {fraction:.0%} ({run['offered_rps']:,.0f} RPC/s) | {t['label']} "
                f"| {run['achieved_rps']:,.0f}{' (behind)' if run['behind'] else ''} "
                f"| {run['p50_us']:,.0f} µs | {run['p99_us']:,.0f} µs | {added[0]} | {added[1]} "
                f"| {busy(run, LOAD_CPU)} | {busy(run, PROXY_CPU)} | {proxy} | {shares} "
                f"| {run['new_pod_connections']} | {run['errors']} | {run['other_cores']:.2f} |")
    for name in order:
        t = targets[name]
        if any(run["failed"] or run["status_other"] for run in t["peak"] + t["pinned_peak"]):
            problems.append(f"{t['label']}: h2load saw failed or non-2xx calls at peak")
    gen = r["generators"]
    pace, grpc = gen["skewless-h2-pace"], gen["skewless-loadgen"]
    for name, g in gen.items():
        if g["errors"]:
            problems.append(f"{name}: {g['errors']} failed calls in the generator-cost run")
    lines += [
        "",
        "*New pod connections*: connections the pods accepted during that run (the pods' "
        "own count): a proxy that reuses its HTTP/2 connections opens none. *Other load*: "
        "cores used meanwhile by processes outside the bench (from /proc): above ~0.1 the "
        "row shared the machine with other work.",
        "",
        f"**Generator cost**: at {r['rates'][0]:,.0f} RPC/s direct to one pod on CPU "
        f"{LOAD_CPU}, same shape ({FIXED_CLIENTS} connections, at most {FIXED_OUTSTANDING} "
        f"in flight on each, {r['fixed_seconds']} s after a warm-up), CPU time of the "
        "generator's process (its rusage, startup included) over every call it made: "
        f"`skewless-h2-pace` {pace['us_per_call']:.1f} µs per call ({pace['achieved_rps']:,.0f} "
        f"RPC/s achieved), `skewless-loadgen` (gRPC C++) {grpc['us_per_call']:.1f} µs per "
        f"call ({grpc['achieved_rps']:,.0f} RPC/s achieved): "
        f"{ratio(grpc['us_per_call'], pace['us_per_call'], 1)} cheaper.",
        "",
        "**Memory** of the proxy's processes (shared-cores layout) after its peak runs "
        "(nginx: master and workers; RSS counts shared library pages in each process, PSS "
        "splits them):",
        "",
        "| target | processes | RSS | PSS | peak RSS | RSS vs splicer |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    mib = lambda kib: f"{kib / 1024:.1f} MiB"
    for name in order:
        t = targets[name]
        if "memory_kib" not in t:
            continue
        m = t["memory_kib"]
        lines.append(f"| {t['label']} | {t['processes']} | {mib(m['rss'])} | {mib(m['pss'])} "
                     f"| {mib(m['hwm'])} | {ratio(m['rss'], splicer['memory_kib']['rss'])} |")

    # Goals and a plain reading, from this run's numbers.
    goals = []
    rivals = [targets[n] for n in ("nginx", "haproxy") if n in targets]
    beaten = [t for t in rivals if per_cpu_second(t) >= splicer_per_cpu]
    goals.append(
        "more throughput per core than nginx and HAProxy (shared cores): "
        + ("met" if rivals and not beaten else "NOT met")
        + f" (splicer {splicer_per_cpu:,.0f} RPC per CPU-second; "
        + "; ".join(f"{t['label']} {per_cpu_second(t):,.0f}, the splicer's "
                    f"{splicer_per_cpu / per_cpu_second(t):.2f}x of it" for t in rivals) + ")")
    half = FIXED_FRACTIONS.index(0.5)
    s_half, d_half = splicer["fixed"][half], direct["fixed"][half]

    def over_floor(us):
        return (f"so the splicer's own work adds {us:+,.0f} µs over that floor" if us > 0 else
                f"and the splicer adds no more than that floor ({-us:,.0f} µs less)")
    added_p99 = s_half["p99_us"] - d_half["p99_us"]
    met = added_p99 < GOAL_ADDED_P99_US and not s_half["behind"] and not d_half["behind"]
    goals.append(
        f"under {GOAL_ADDED_P99_US} µs added p99 at half the splicer's peak (pinned): "
        f"{'met' if met else 'NOT met'} ({added_p99:+,.0f} µs"
        + ("" if met else f", {added_p99 - GOAL_ADDED_P99_US:,.0f} µs over the goal"
           if added_p99 >= GOAL_ADDED_P99_US else ", but a row fell behind")
        + f": p99 {s_half['p99_us']:,.0f} µs through the splicer minus {d_half['p99_us']:,.0f} "
        f"µs direct to one pod, both at {r['rates'][half]:,.0f} RPC/s, half the splicer's "
        f"peak in the pinned layout; skewless-h2-pace and the pods on CPU {LOAD_CPU}, the "
        f"splicer with 1 worker alone on CPU {PROXY_CPU}; each the lower-p99 of "
        f"{r['rounds']} round{'s' if r['rounds'] > 1 else ''})"
        + "".join(
            f"; at the same load the L4 relay adds {t['fixed'][half]['p99_us'] - d_half['p99_us']:+,.0f}"
            f" µs p99 with no HTTP/2 work (the hop's floor here), "
            + over_floor(s_half["p99_us"] - t["fixed"][half]["p99_us"])
            for t in floor))
    lines += ["", "Goals: " + "; ".join(goals) + "."]

    reading = []
    ranked = sorted([splicer] + rivals, key=per_cpu_second, reverse=True)
    reading.append("per core, " + " > ".join(
        f"{t['label']} ({ratio(per_cpu_second(t), splicer_per_cpu)})" for t in ranked)
        + " of the splicer's calls per CPU-second")
    writes = [(t["label"], t["syscalls_per_call"]["writes"]) for t in [splicer] + rivals
              if t.get("syscalls_per_call")]
    if writes:
        reading.append("socket writes per call: " + ", ".join(
            f"{label} {w:.1f}" for label, w in writes) + " (each is a loopback send whose "
            "receive-side TCP work the sender pays for)")
    at_half = {t["name"]: t["fixed"][half] for t in [splicer] + rivals + floor}
    reading.append(
        f"pinned, at {r['rates'][half]:,.0f} RPC/s added p50 / p99: " + "; ".join(
            f"{fixed_targets[n]['label']} {run['p50_us'] - d_half['p50_us']:+,.0f} / "
            f"{run['p99_us'] - d_half['p99_us']:+,.0f} µs"
            + (" (fell behind)" if run["behind"] else "")
            for n, run in at_half.items()))
    reading.append(
        f"there the splicer used {100 * s_half['proxy_cpu_s'] / s_half['wall_s']:.0f} % of "
        f"CPU {PROXY_CPU} (the core {busy(s_half, PROXY_CPU)} busy in all), and CPU {LOAD_CPU} "
        f"(skewless-h2-pace and the pods) was {busy(s_half, LOAD_CPU)} busy "
        f"({busy(d_half, LOAD_CPU)} at the same load direct to one pod)")
    pinned_best = best(splicer["pinned_peak"])
    reading.append(
        f"paced, the splicer spent {1e6 * s_half['proxy_cpu_s'] / max(s_half['pace_calls'], 1):.1f}"
        f" µs of CPU per call at {r['rates'][half]:,.0f} RPC/s and "
        f"{1e6 * splicer['fixed'][0]['proxy_cpu_s'] / max(splicer['fixed'][0]['pace_calls'], 1):.1f}"
        f" µs at {r['rates'][0]:,.0f}, against "
        f"{1e6 * pinned_best['proxy_cpu_s'] / max(pinned_best['succeeded'], 1):.1f} µs at its "
        f"pinned peak: evenly paced calls arrive one per loop turn (a read, a send and a "
        f"wake-up on each side), where h2load's {PEAK_CLIENTS * PEAK_STREAMS} calls in flight "
        "arrive in batches that share them, so half the peak rate is not half the peak's "
        "load")
    if "nginx" in targets and targets["nginx"]["fixed"][0]["new_pod_connections"] > 0:
        n = targets["nginx"]["fixed"][0]
        reading.append(
            f"nginx opened {n['new_pod_connections']:,} connections to the pods for "
            f"{n['rpcs']:,} calls at {n['offered_rps']:,.0f} RPC/s (pinned layout): it closes a "
            "pooled idle connection as soon as the pod sends anything on it (seen with "
            "strace: a 1-byte MSG_PEEK, then close), such as a PING or a WINDOW_UPDATE")
    lines += ["", "Reading: " + "; ".join(reading) + "."]
    every_run = [run for t in r["targets"]
                 for run in t["peak"] + t["pinned_peak"]
                 + [x for tries in t["fixed_runs"] for x in tries]]
    shown = max(run["other_cores"] for t in r["targets"]
                for run in [best_peak(t), best(t["pinned_peak"])] + t["fixed"])
    every = max(run["other_cores"] for run in every_run)
    notes = []
    if shown > 0.15:
        notes.append(f"other processes on the machine used up to {shown:.2f} cores during "
                     "rows shown (see *other load*): those rows are noisy; run the section "
                     "again on a quiet machine")
    else:
        notes.append(f"nothing else ran during the rows shown (other processes: at most "
                     f"{shown:.2f} cores; {every:.2f} in runs not shown)")
    if r["pinned_ok"]:
        notes.append(f"every thread of the pods was on CPU {LOAD_CPU} and every thread of "
                     f"each pinned proxy on CPU {PROXY_CPU}, before and after the pinned runs")
    if overloaded:
        notes.append("fell more than 3% short of the offered rate (the machine could not "
                     "carry that load through that proxy): " + "; ".join(overloaded))
    if problems:
        notes.append("**checks failed**: " + "; ".join(problems))
    else:
        notes.append("every proxy served every call with 2xx and gRPC status OK, and spread "
                     "its calls over all pods")
    totals = r["pod_totals"]
    if totals:
        notes.append("the pods served " + ", ".join(f"{n:,}" for n in totals.values())
                     + " calls over the whole section")
    lines += ["", "Checks: " + "; ".join(notes) + ".", SPLICER_END]
    return "\n".join(lines)


# --- The splicer's abuse suite, its figures as a table (issue #15) ----------------------

ABUSE_BEGIN = "<!-- abuse-bench:begin -->"
ABUSE_END = "<!-- abuse-bench:end -->"
ABUSE_ROUNDS = 2
# What each test asserts of the splicer's memory (tests/unit/splicer/splicer_abuse_test.cc);
# every test also holds the good client's p99 within 2x of its own runs alone (the worse of
# before and after the attack), +2 ms.
ABUSE_MEMORY_BOUNDS = {
    "AZeroWindowReaderHoldsOnlyItsOwnStreamsAndItsBudget":
        "buffered ≤ 5 MiB (its 4 MiB connection budget + 1 MiB), RSS ≤ +64 MiB",
    "AZeroWindowReaderDoesNotHoldTheSharedBackendConnections":
        "buffered 40 – 51 MiB (200 streams x 256 KiB window + 1 MiB)",
    "HeaderMemoryFollowsTheBytesKeptNotTheBytesDecoded":
        "RSS ≤ +96 MiB, back under +16 MiB after",
    "MemoryPerStreamInFlightIsAFewKilobytes": "≤ 8 KiB a stream",
}
# What gtest itself writes on each test entry of its JSON; the rest are RecordProperty's.
GTEST_KEYS = {"name", "file", "line", "status", "result", "timestamp", "time", "classname",
              "value_param", "type_param", "failures"}


def abuse_tests(binary):
    """The suite's test names (Suite.Test/param), from --gtest_list_tests."""
    out = subprocess.run([binary, "--gtest_list_tests"], check=True, capture_output=True,
                         text=True).stdout
    names, suite = [], ""
    for line in out.splitlines():
        if not line.startswith(" "):
            suite = line.split("#")[0].strip()
        elif line.strip():
            names.append(suite + line.split("#")[0].strip())
    return names


def abuse_run(binary, name):
    """One test in its own process (a crash or a hang then costs one row) -> its gtest JSON
    entry: the RecordProperty figures are attributes of it, `failures` lists what failed."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "abuse.json")
        try:
            proc = subprocess.run([binary, f"--gtest_filter={name}",
                                   f"--gtest_output=json:{report}"],
                                  capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            return {"failures": [{"failure": "timed out after 300 s"}]}
        if not os.path.exists(report):
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:]
            return {"failures": [{"failure": f"exited {proc.returncode} with no report: "
                                             + " ".join(tail)}]}
        with open(report) as f:
            entries = [t for s in json.load(f)["testsuites"] for t in s["testsuite"]]
    return entries[0] if entries else {"failures": [{"failure": "not run"}]}


def abuse_bench(bin_dir, quick):
    """splicer_abuse_tests, each test in turn, `rounds` times; the other processes' CPU
    meanwhile (the suite's p99s are of a few hundred calls: anything else running moves them)."""
    binary = f"{bin_dir}/splicer_abuse_tests"
    rounds = 1 if quick else ABUSE_ROUNDS
    names = abuse_tests(binary)
    runs = {name: [] for name in names}
    started = time.monotonic()
    others_before = process_cpu_ticks()
    for r in range(rounds):
        for name in names:
            say(f"abuse: {name} (round {r + 1}/{rounds})")
            run = abuse_run(binary, name)
            if run.get("failures"):
                say(f"abuse: {name} FAILED: {failure_text(run['failures'][0])}")
            runs[name].append(run)
    wall_s = time.monotonic() - started
    return {"runs": runs, "rounds": rounds, "wall_s": wall_s,
            "other_cores": others_cpu_seconds(others_before, process_cpu_ticks()) / wall_s}


def failure_text(failure):
    """gtest's `path:line\nExpected ...\n<message>` -> `file:line: Expected ...`."""
    lines = failure["failure"].splitlines()
    return os.path.basename(lines[0]) + (": " + lines[1] if len(lines) > 1 else "")


def readable_test_name(name):
    """SplicerAbuseTest.AZeroWindowReaderHolds... -> 'A zero window reader holds ...';
    a parameter (Frames/SplicerFloodTest.AFlood.../ping_flood) goes in brackets."""
    test, _, param = name.split(".", 1)[1].partition("/")
    words = re.findall(r"[A-Z][a-z0-9]*", test)
    text = " ".join([words[0]] + [w.lower() for w in words[1:]])
    return text + (f" (`{param}`)" if param else "")


def abuse_section(command, r):
    def figure(run, key):
        return float(run[key]) if key in run else None

    def ratio(run):
        alone, attacked = figure(run, "baseline_p99_us"), figure(run, "attack_p99_us")
        return attacked / alone if alone and attacked is not None else None

    def good_calls(run):
        if "good_calls" not in run:
            return "–"
        return f"{int(run['good_calls_ok']):,} / {int(run['good_calls']):,}"

    def cell(value, fmt, unit=""):
        return "–" if value is None else format(value, fmt) + unit

    def mib(run, key):
        return cell(None if figure(run, key) is None else figure(run, key) / (1 << 20),
                    ".1f", " MiB")
    rounds = r["rounds"]
    lines = [
        ABUSE_BEGIN,
        "## HTTP/2 splicer under attack (the abuse suite's figures)",
        "",
        f"`{command}` on {platform.node()} ({os.cpu_count()} cores), "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; the "
        f"section took {r['wall_s']:.0f} s. Each row is one test of "
        "[tests/unit/splicer/splicer_abuse_test.cc](../tests/unit/splicer/splicer_abuse_test.cc), "
        "run as its own process: a `skewless-splicer` with one worker (so every client shares "
        "its two backend connections) in front of two gRPC C++ pods (200 µs service time), a "
        "well-behaved gRPC C++ client making 100 calls/s through it for 2 s alone, then for 2 to "
        "4 s beside one attack ([abuse.py](../tests/unit/splicer/abuse.py), python3-h2, at nice 19 "
        "so that on 2 cores its own CPU is not counted as the splicer's latency). p99 counts "
        "from each call's due time, so a stall is measured in full; the splicer's buffered "
        "bytes (its /metrics) and RSS are sampled every 50 ms during the attack. "
        + (f"{rounds} rounds; each row shows the worse round (a failed one, else the one with "
           "the higher p99 ratio), the other round's ratio in brackets."
           if rounds > 1 else "1 round.")
        + " A ratio under 1x is the run alone's bad luck: of 200 calls, its p99 is the "
        "second slowest, which one scheduler hiccup sets.",
        "",
        "| attack (test) | good p99 alone | good p99 under attack | ratio | good calls OK "
        "| splicer peak buffered | splicer RSS growth | memory bound (asserted) | test |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    failed = []
    measured = []  # tests that record figures of their own, not the good client's
    for name, runs in r["runs"].items():
        bound = ABUSE_MEMORY_BOUNDS.get(name.split(".", 1)[1])
        if not any("baseline_p99_us" in run for run in runs) and not all(
                run.get("failures") for run in runs):
            keys = dict.fromkeys(k for run in runs for k in run if k not in GTEST_KEYS)
            measured.append(f"{readable_test_name(name)}: " + ", ".join(
                k.removesuffix("_bytes").replace("_", " ") + " " + " / ".join(
                    (f"{float(run[k]) / 1024:,.1f} KiB" if k.endswith("_bytes") else run[k])
                    if k in run else "–" for run in runs) for k in keys)
                + (f" (asserted {bound})" if bound else "")
                + ("" if not any(run.get("failures") for run in runs) else " **FAILED**"))
            continue
        worst = max(runs, key=lambda run: (bool(run.get("failures")), ratio(run) or 0))
        others = [run for run in runs if run is not worst]
        shown_ratio = cell(ratio(worst), ".2f", "x")
        if others:
            shown_ratio += " (" + ", ".join(cell(ratio(o), ".2f", "x") for o in others) + ")"
        failures = [f for run in runs for f in run.get("failures", [])]
        verdict = ("pass" if not failures else
                   f"**FAILED** ({sum(bool(run.get('failures')) for run in runs)} of {len(runs)})")
        if failures:
            # The failing assert's location and first line say which bound it was.
            failed.append(f"{readable_test_name(name)}: "
                          + "; ".join(failure_text(f) for f in failures))
        lines.append(
            f"| {readable_test_name(name)} | {cell(figure(worst, 'baseline_p99_us'), ',.0f', ' µs')} "
            f"| {cell(figure(worst, 'attack_p99_us'), ',.0f', ' µs')} | {shown_ratio} "
            f"| {good_calls(worst)} | {mib(worst, 'peak_buffered_bytes')} "
            f"| {mib(worst, 'rss_growth_bytes')} "
            f"| {bound or '–'} | {verdict} |")
    if measured:
        lines += ["", "Also measured by the suite (each round): " + "; ".join(measured) + "."]
    lines += [
        "",
        "The asserts live in the test, not here: every good call succeeds, its p99 under attack "
        "stays within 2x its p99 alone (the worse of its runs before and after the attack) + 2 ms "
        "(a VM's scheduler noise), no pod is ejected or "
        "resets a stream, the memory bounds above hold, and each attack meets the answer the "
        "test names (streams reset, `RESOURCE_EXHAUSTED`, connections closed on time, "
        "`GOAWAY ENHANCE_YOUR_CALM`). This table only shows the figures; "
        "[splicer.md](splicer.md#limits-and-isolation) lists the bounds.",
        "",
        f"Checks: other processes used {r['other_cores']:.2f} cores on average during the "
        "section" + (" (the p99s above are of 200 to 400 calls each and move with it: run the "
                     "section again on a quiet machine)" if r["other_cores"] > 0.15 else "")
        + ("; failed: " + "; ".join(failed) if failed else "; every test passed in every round")
        + ".",
        ABUSE_END,
    ]
    return "\n".join(lines)


def write_report(path, command, ceiling, lab, connect):
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"({platform.node()}, {os.cpu_count()} cores, kernel {platform.release()}). Every row",
        "of a table ran in the same invocation, side by side; compare ratios, not",
        "absolute numbers, which move with whatever else the machine is doing.",
        "",
        "## Load generator ceiling (loopback, one pod server, zero service time)",
        "",
        "How many Echo.Work RPCs/s `skewless-loadgen` can drive on this machine, next to",
        "nghttp2's `h2load` sending the same gRPC call over the same connection shape to",
        "the same server. The server shares the 2 cores, so this is a ceiling for the whole",
        "loop; a lab result close to it means the generator, not the dataplane, is the limit.",
        "",
        "| clients x outstanding | skewless-loadgen RPC/s | h2load RPC/s | loadgen / h2load | loadgen p50 (ms) | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in ceiling:
        lines.append(
            f"| {r['clients']} x {r['concurrency']} | {r['loadgen_rps']:.0f} | {r['h2load_rps']:.0f} "
            f"| {r['loadgen_rps'] / r['h2load_rps']:.2f} | {r['loadgen_p50_ms']:.2f} | {r['errors']} |")
    lines += [
        "",
        "## The lab: kube-proxy baselines and skewless L4 (6 pods, 3 zones, 12 persistent clients)",
        "",
        "The lab's default node through kube-proxy's iptables and nftables rules (real kernel",
        "NAT and conntrack), then through skewless's connect hooks (one data path per client",
        "zone, as one per node). `max/mean` is the busiest pod's share over the mean share",
        "(1.00 = even); CV is the coefficient of variation of per-pod requests. kube-proxy's",
        "pick is random per connection, so its spread varies run to run and never comes out",
        "even. skewless without a zone preference balances each node's own connections (its",
        "load counts are per node); with PreferClose each zone's connections stay local and",
        "spread evenly over the zone's pods.",
        "",
        "| workload | dataplane | RPC/s | p50 ms | p99 ms | max/mean | CV | idle pods | cross-zone | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in lab:
        lines.append(
            f"| {r['workload']} | {r['dataplane']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['max_over_mean']:.2f} | {r['cv']:.2f} | {r['idle']}/{r['pods']} "
            f"| {100 * r['cross_zone']:.0f}% | {r['errors']} |")
    by = {(r["workload"], r["dataplane"]): r for r in lab}
    for workload in dict.fromkeys(r["workload"] for r in lab):
        base = by.get((workload, "kube-proxy iptables"))
        for other in ("kube-proxy nftables", "skewless L4", "skewless L4 (PreferClose)"):
            o = by.get((workload, other))
            if base and o and base["rps"]:
                lines.append("")
                lines.append(f"{other} / kube-proxy iptables throughput, {workload}: "
                             f"{o['rps'] / base['rps']:.2f}")
    if connect:
        floors = [r for r in connect if r["mode"] == "none"]
        # The floor is measured first and last; their mean is the reference.
        none = {"p50_us": sum(r["p50_us"] for r in floors) / len(floors),
                "p99_us": sum(r["p99_us"] for r in floors) / len(floors)} if floors else None
        lines += [
            "",
            "## connect() cost as Services grow",
            "",
            "One process in its own network namespace connects to a Service VIP (spread over 64",
            "of the programmed Services, so a linear rule walk is measured on average) whose one",
            "backend is a local listener. `none` connects straight to the backend with no hook",
            "or rule: the floor. Cells are the median connect() time as a ratio to that floor",
            "(lower is better; 1.00 = free), p99 ratio in brackets; the last columns are how",
            "long programming that many Services took.",
            "",
            "| Services | skewless hook | kube-proxy iptables | kube-proxy nftables "
            "| program: skewless | program: iptables | program: nftables |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        cells = {(r["mode"], r["services"]): r for r in connect}
        for n in sorted({r["services"] for r in connect if r["mode"] != "none"}):
            def ratio(mode):
                r = cells.get((mode, n))
                if not r or not none:
                    return "–"
                if "skipped" in r:
                    return "not run"
                return f"{r['p50_us'] / none['p50_us']:.2f} ({r['p99_us'] / none['p99_us']:.2f})"

            def program(mode):
                r = cells.get((mode, n))
                if r and "skipped" in r:
                    return f"skipped: {r['skipped']}"
                return f"{r['program_s']:.2f} s" if r else "–"

            lines.append(f"| {n:,} | {ratio('skewless')} | {ratio('iptables')} | {ratio('nftables')} "
                         f"| {program('skewless')} | {program('iptables')} | {program('nftables')} |")
        if floors:
            lines.append("")
            lines.append("Floor (no hook), measured first and last in this run: median "
                         + " and ".join(f"{r['p50_us']:.1f}" for r in floors) + " µs, p99 "
                         + " and ".join(f"{r['p99_us']:.1f}" for r in floors)
                         + " µs per connect(); ratios use their mean.")
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


POLICY_BEGIN = "<!-- policy-sim:begin -->"
POLICY_END = "<!-- policy-sim:end -->"
# The model's cases: (label, flags). The product's defaults come first; the others show
# what each knob is worth.
POLICY_CASES = [
    ("12 nodes x 1 client, 6 pods; agents report on change (>= 250 ms apart, 5 s heartbeat), "
     "the control plane publishes every 250 ms",
     ["--report-interval-ms", "5000", "--report-on-change-ms", "250",
      "--publish-interval-ms", "250"]),
    ("the same, 2 clients per node",
     ["--report-interval-ms", "5000", "--report-on-change-ms", "250",
      "--publish-interval-ms", "250", "--clients-per-node", "2"]),
    ("the same, 10 s slow start",
     ["--report-interval-ms", "5000", "--report-on-change-ms", "250",
      "--publish-interval-ms", "250", "--slow-start-ms", "10000"]),
    ("12 nodes x 1 client, 6 pods; reports only every 2 s, published every 1 s",
     ["--report-interval-ms", "2000", "--publish-interval-ms", "1000"]),
    ("100 nodes x 1 client, 20 pods (above the 16-pod scan: P2C)",
     ["--report-interval-ms", "5000", "--report-on-change-ms", "250",
      "--publish-interval-ms", "250", "--nodes", "100", "--pods", "20"]),
]


def policy_bench(bin_dir, quick):
    """select.h under every policy across many simulated nodes (skewless-policy-sim)."""
    runs = []
    for label, flags in POLICY_CASES:
        say(f"policy: {label}")
        argv = [f"{bin_dir}/skewless-policy-sim", "--rounds", "10" if quick else "50"] + flags
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        runs.append((label, " ".join(flags), json.loads(out.strip().splitlines()[-1])))
    return runs


def policy_section(command, runs):
    lines = [
        POLICY_BEGIN,
        "## Connect-time policy across nodes (model)",
        "",
        f"`{command}` on {platform.node()}, "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
        "`skewless-policy-sim`: every simulated node chooses with select.h itself; the clock, "
        "the LRS reports and the control plane's ClusterLoad publishes are simulated, so a "
        "node sees every other node's connections as old as those make them. Figures are "
        "connections per pod, max/mean (1.00 is perfect), as mean / worst over the rounds "
        "(seeds). Rollout: each client connects once, at a uniform time over 30 s. Burst: all "
        "within 100 ms (nobody can know of the others' picks in time). Churn: clients "
        "reconnect every 30 s (±10%); one pod dies at 60 s and returns at 62 s; sampled every "
        "second after its return. Returning pod: its peak connections over its fair share.",
    ]
    for label, flags, r in runs:
        lines += ["", f"**{label}** (`{flags}`, {r['rounds']} rounds)", "",
                  "| policy | rollout | burst | churn | returning pod peak / fair |",
                  "|---|---:|---:|---:|---:|"]
        for p in r["policies"]:
            cell = lambda k: f"{p[k]['mean']:.2f} / {p[k]['worst']:.2f}"
            lines.append(f"| {p['name']} | {cell('rollout')} | {cell('burst')} | {cell('churn')} "
                         f"| {cell('returning_pod_peak_share')} |")
    lines.append(POLICY_END)
    return "\n".join(lines)


LRS_BEGIN = "<!-- lrs-bench:begin -->"
LRS_END = "<!-- lrs-bench:end -->"


def lrs_bench(bin_dir, quick):
    """Cluster-wide load at scale: simulated nodes' LRS reports and ClusterLoad
    subscriptions against the control plane (skewless-lrs-bench)."""
    scale = (["--nodes", "100", "--services", "100", "--subscribers", "100", "--seconds", "5",
              "--changes", "10"] if quick else
             ["--nodes", "1000", "--services", "1000", "--subscribers", "1000", "--seconds", "20",
              "--changes", "50"])
    say(f"lrs: {' '.join(scale)}")
    argv = [f"{bin_dir}/skewless-lrs-bench", "--controlplane",
            f"{bin_dir}/skewless-controlplane", "--endpoints", "10"] + scale
    load_before = os.getloadavg()[0]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    run = json.loads(out.strip().splitlines()[-1])
    # The machine's other work shows in the latency tail: say how busy it was.
    run["loadavg"] = [load_before, os.getloadavg()[0]]
    return run


def lrs_section(command, run):
    mib = lambda kib: f"{kib / 1024:.0f} MiB"
    kb = lambda b: f"{b / 1000:.2f} kB/s"
    per_agent = lambda p: p["lrs_out_bps"] + p["lrs_in_bps"] + p["ads_out_bps"] + p["ads_in_bps"]
    full_scale = run["nodes"] >= 1000 and run["endpoints"] >= 10000
    lines = [
        LRS_BEGIN,
        "## Cluster-wide load at scale: LRS reports in, ClusterLoads out",
        "",
        f"`{command}` on {platform.node()} ({os.cpu_count()} cores), "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
        f"`skewless-lrs-bench`: {run['nodes']:,} simulated nodes over {run['endpoints']:,} "
        f"endpoints ({run['services']:,} Services) against `skewless-controlplane` as its own "
        "process (simulated Kubernetes API, plaintext on loopback, "
        f"`--load-publish-interval {run['publish_interval_s']:g}`). Each node holds connections "
        f"to {run['endpoints_per_node']} endpoints (3 in each of 10 random Services, 1-4 "
        "connections each) and reports them on its own LRS stream as an agent does (node "
        "`user_agent_name: skewless-agent`, one ClusterStats per cluster, one locality per "
        "zone, per-endpoint `total_requests_in_progress`): a heartbeat every "
        f"{run['lrs_interval_s']:g} s (the control plane's interval, the nodes' phases spread "
        "over it), and a changed node within 0.25 s. "
        f"{run['subscribers']:,} of the nodes (an even sample) also hold a delta ADS stream "
        "subscribed to the ClusterLoads of their 10 Services, ACKing each response. The "
        "streams share one client HTTP/2 connection per 100 (gRPC callback API, a few "
        "threads). Steady: heartbeats only; churn: "
        f"{run['churn_per_s'] * 100:g}% of the nodes change one endpoint's count (±1) each "
        "second. Bytes are serialized message sizes (`ByteSizeLong()`) plus "
        f"{run['framing_bytes_per_message']} bytes per message (gRPC's 5-byte prefix and one "
        "9-byte HTTP/2 DATA frame header); stream HEADERS, WINDOW_UPDATEs, PINGs and TCP/IP "
        "headers are not counted. CPU is the control plane's user+system time over the phase "
        "(/proc/<pid>/stat), as a share of one core.",
    ]
    if not full_scale:
        lines += ["", f"Reduced scale ({run['nodes']:,} nodes, {run['endpoints']:,} endpoints), "
                  "not the 1,000 nodes x 10,000 endpoints of the full run."]
    lines += [
        "",
        "| phase | control plane CPU | RSS / peak | reports/s | ClusterLoads published/s "
        "| per agent: LRS out | ADS in | ADS out (ACKs) | total |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, key in (("steady (heartbeats)", "steady"), ("churn", "churn")):
        p = run[key]
        lines.append(
            f"| {name} | {p['cpu_share'] * 100:.1f}% | {mib(p['rss_kib'])} / {mib(p['hwm_kib'])} "
            f"| {p['reports_per_s']:.0f} | {p['publishes_per_s']:.0f} | {kb(p['lrs_out_bps'])} "
            f"| {kb(p['ads_in_bps'])} | {kb(p['ads_out_bps'])} | {kb(per_agent(p))} |")
    lat = run["latency"]
    lines += [
        "",
        f"Change to every subscriber (one node's count changes, its report is sent at once; "
        f"until every subscriber of that cluster, {lat['subscribers_per_change_mean']:.1f} on "
        f"average, holds the new sum): p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, "
        f"max {lat['max_ms']:.0f} ms over {lat['samples']} changes. The publish interval bounds "
        "the wait for the next round; the rest is the fan-out. Control plane RSS before any "
        f"stream: {mib(run['rss_idle_kib'])}. The machine's 1-minute load average was "
        f"{run['loadavg'][0]:.1f} before and {run['loadavg'][1]:.1f} after the run "
        f"({os.cpu_count()} cores): other work shared it, which shows in the tails.",
        "",
        "Each simulated node reports only the endpoints it holds or opened connections to, "
        "as the agent does (an idle endpoint is left out: a report replaces the previous one "
        "whole). Listing every endpoint a node steers, zeros included, would make each "
        f"report {run['full_agent_report_bytes'] / 1000:.0f} kB "
        f"({run['full_agent_report_bytes'] / run['lrs_interval_s'] / 1000:.1f} kB/s in "
        "heartbeats alone).",
    ]
    steady = run["steady"]
    goals = [
        ("p99 change to every subscriber at most 1 s", lat["p99_ms"] <= 1000,
         f"{lat['p99_ms']:.0f} ms"),
        ("control plane at most 5% of one core at steady state", steady["cpu_share"] <= 0.05,
         f"{steady['cpu_share'] * 100:.1f}%"),
        ("at most 2 kB/s per agent at steady state", per_agent(steady) <= 2000,
         kb(per_agent(steady))),
    ]
    lines += ["", "Goals: " + "; ".join(f"{g}: {'met' if ok else 'NOT met'} ({v})"
                                       for g, ok, v in goals) + ".", LRS_END]
    return "\n".join(lines)


CLUSTER_BEGIN = "<!-- cluster-load:begin -->"
CLUSTER_END = "<!-- cluster-load:end -->"
# The multi-node lab's hard case: many nodes per zone with one long-lived client each,
# arriving as a rollout, no zone preference.
CLUSTER_TOPOLOGY = ["--nodes-per-zone", "4", "--clients-per-node", "1", "--pods", "6",
                    "--client-stagger", "1s", "--rate", "1200"]
CLUSTER_VARIANTS = [
    ("kube-proxy iptables", "iptables", []),
    ("skewless L4 node-local (least-request)", "skewless",
     ["--cluster-load", "false", "--lb-policy", "least-request"]),
    ("skewless L4 cluster-wide (least-request)", "skewless",
     ["--cluster-load", "true", "--lb-policy", "least-request"]),
    ("skewless L4 cluster-wide (least-loaded)", "skewless",
     ["--cluster-load", "true", "--lb-policy", "least-loaded"]),
]


# Cluster-wide load under change: 3 zones x 2 nodes x 2 clients (12 connections, 6 agents:
# short rounds) over 6 pods, a rollout of 0.5 s per node, 600 calls/s. Each case runs
# through kube-proxy, node-local and cluster-wide least-loaded.
CHANGE_TOPOLOGY = ["--nodes-per-zone", "2", "--clients-per-node", "2", "--pods", "6",
                   "--client-stagger", "500ms", "--rate", "600"]
CHANGE_VARIANTS = [
    ("kube-proxy iptables", "iptables", []),
    ("skewless L4 node-local (least-request)", "skewless",
     ["--cluster-load", "false", "--lb-policy", "least-request"]),
    ("skewless L4 cluster-wide (least-loaded)", "skewless",
     ["--cluster-load", "true", "--lb-policy", "least-loaded"]),
]
# (key, title, seconds, flags): churn at MaxConnectionAge 4 s (3 reconnects/s); a pod added
# 2 s in under the same churn, with a 1 s slow start; pod-0 removed 2 s in, no churn.
CHANGE_CASES = [
    ("churn", "churn", 8, ["--max-connection-age", "4s"]),
    ("added", "a pod added", 8,
     ["--max-connection-age", "4s", "--add-pod-at", "2s", "--slow-start-window", "1s"]),
    ("removed", "a pod removed", 5, ["--remove-pod-at", "2s,pod-0"]),
]


def cluster_bench(bin_dir, quick):
    """The multi-node lab, rounds of each variant: connections per pod across nodes, held
    (long-lived), churning, with a pod added and with a pod removed."""
    rounds = 2 if quick else 10
    started = time.monotonic()
    results = []
    for label, dataplane, extra in CLUSTER_VARIANTS:
        ratios = []
        for i in range(rounds):
            say(f"cluster load: long-lived, {label}, round {i + 1}/{rounds} "
                f"({time.monotonic() - started:.0f} s in)")
            r = lab_run(bin_dir, dataplane, 5, CLUSTER_TOPOLOGY + extra)
            ratios.append(r["spread"]["max_over_mean"])
        results.append({"label": label, "ratios": ratios})
    changes = {}
    for key, title, seconds, flags in CHANGE_CASES:
        changes[key] = []
        for label, dataplane, extra in CHANGE_VARIANTS:
            reports = []
            for i in range(rounds):
                say(f"cluster load: {title}, {label}, round {i + 1}/{rounds} "
                    f"({time.monotonic() - started:.0f} s in)")
                reports.append(lab_run(bin_dir, dataplane, seconds,
                                       CHANGE_TOPOLOGY + flags + extra))
            changes[key].append({"label": label, "reports": reports})
    return {"rounds": rounds, "results": results, "changes": changes,
            "load_1m": os.getloadavg()[0], "wall_s": time.monotonic() - started}


def change_tables(run):
    """The three cases under change, one table each, from the lab reports' "connections"."""
    def mean(values):
        return sum(values) / len(values) if values else float("nan")

    def mean_worst(values):
        return f"{mean(values):.2f} | {max(values):.2f}"

    lines = []
    lines += ["", "**Churn** (every connection replaced after 4 s ±10%, as gRPC's "
              "MaxConnectionAge does; 8 s): connections per pod, busiest / mean, sampled every "
              "100 ms over the measured period and averaged, mean and worst round; calls per "
              "pod likewise.", "",
              "| data path | connections max/mean, mean | worst | calls max/mean, mean | worst "
              "| reconnects per round | rounds |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for v in run["changes"]["churn"]:
        c = [r["connections"]["max_over_mean_mean"] for r in v["reports"]]
        calls = [r["spread"]["max_over_mean"] for r in v["reports"]]
        reconnects = [r["connections"]["reconnects_by_age"] for r in v["reports"]]
        lines.append(f"| {v['label']} | {mean_worst(c)} | {mean_worst(calls)} "
                     f"| {mean(reconnects):.0f} | {len(c)} |")
    lines += ["", "**A pod added** 2 s in (a 7th pod, fair share 1/7 = 14.3%), under the same "
              "churn, skewless with a 1 s slow start: its share of the connections at the end "
              "and of the calls since it joined (mean, and the lowest round), how long after "
              "it was listed it first held 80% of its fair share of connections (mean of the "
              "rounds that reached it; how many never did), and connections per pod at the "
              "end (busiest / mean, mean and worst round).", "",
              "| data path | connections share at end, mean | lowest | calls share since "
              "joined, mean | lowest | to 80% of fair share | never reached | connections "
              "max/mean at end, mean | worst | rounds |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for v in run["changes"]["added"]:
        a = [r["connections"]["added"] for r in v["reports"]]
        share = [100 * x["connection_share_end"] for x in a]
        calls = [100 * x["request_share_since_added"] for x in a]
        reached = [x["ms_to_80pct_fair"] / 1e3 for x in a if x["ms_to_80pct_fair"] >= 0]
        end = [r["connections"]["max_over_mean_end"] for r in v["reports"]]
        to_fair = f"{mean(reached):.1f} s" if reached else "-"
        lines.append(
            f"| {v['label']} | {mean(share):.1f}% | {min(share):.1f}% | {mean(calls):.1f}% "
            f"| {min(calls):.1f}% | {to_fair} | {len(a) - len(reached)} of {len(a)} "
            f"| {mean_worst(end)} | {len(a)} |")
    lines += ["", "**A pod removed** 2 s in (pod-0 unlisted, then stopped with a GOAWAY; no "
              "churn, 5 s): connections per pod over the 5 remaining pods at the end, busiest "
              "/ mean, mean and worst round; the clients that had to move; failed calls.", "",
              "| data path | connections max/mean at end, mean | worst | clients moved per "
              "round | failed calls | rounds |",
              "|---|---:|---:|---:|---:|---:|"]
    for v in run["changes"]["removed"]:
        end = [r["connections"]["max_over_mean_end"] for r in v["reports"]]
        moved = [r["connections"]["removed"]["clients"] for r in v["reports"]]
        errors = sum(r["errors"] for r in v["reports"])
        lines.append(f"| {v['label']} | {mean_worst(end)} | {mean(moved):.1f} | {errors} "
                     f"| {len(end)} |")
    return lines


def cluster_section(command, run):
    lines = [
        CLUSTER_BEGIN,
        "## Cluster-wide load: many nodes, one client each (lab)",
        "",
        f"`{command}` on {platform.node()} ({os.cpu_count()} cores), "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
        "`skewless-lab run` with 3 zones x 4 nodes, one long-lived gRPC client per node, 6 "
        "pods, the clients starting 1 s apart in a random order (a rollout), no zone "
        "preference, 1,200 calls/s spread evenly over the connections; each skewless node "
        "runs its own `skewless-agent` fed by one `skewless-controlplane`. A pod's share of "
        "calls is its share of connections. Figures: busiest pod / mean (1.00 is even), "
        f"mean and worst of {run['rounds']} rounds.",
        "",
        "| data path | max/mean, mean | worst | rounds |",
        "|---|---:|---:|---:|",
    ]
    for r in run["results"]:
        ratios = r["ratios"]
        lines.append(f"| {r['label']} | {sum(ratios) / len(ratios):.2f} | {max(ratios):.2f} "
                     f"| {len(ratios)} |")
    lines += ["", "Goal: connections per pod max/mean at most 1.10 cluster-wide."]
    if "changes" in run:
        lines += ["", "### Under change: churn, a pod added, a pod removed", "",
                  "`skewless-lab run` with 3 zones x 2 nodes, 2 gRPC clients per node (12 "
                  "connections), 6 pods, the nodes starting 0.5 s apart in a random order, "
                  "600 calls/s; each client's pod is that of its latest reply (the lab "
                  "report's `connections`). "
                  f"{run['rounds']} rounds of each case per data path; the whole section took "
                  f"{run['wall_s'] / 60:.0f} minutes, and the machine's 1-minute load average "
                  f"was {run['load_1m']:.1f} at its end (2 cores shared with other work), which "
                  "stretches the staleness window of cluster-wide load."]
        lines += change_tables(run)
    lines.append(CLUSTER_END)
    return "\n".join(lines)


WEBSOCKET_BEGIN = "<!-- websocket:begin -->"
WEBSOCKET_END = "<!-- websocket:end -->"
# The cluster case's topology with long-lived WebSocket connections instead of gRPC
# channels: HTTP/1.1, so the splicer cannot help; only the connect-time choice can.
WEBSOCKET_TOPOLOGY = ["--workload", "websocket", "--nodes-per-zone", "4", "--clients-per-node",
                      "1", "--pods", "6", "--client-stagger", "1s", "--rate", "600"]
WEBSOCKET_VARIANTS = [
    ("kube-proxy iptables", "iptables", []),
    ("skewless L4 node-local (least-request)", "skewless",
     ["--cluster-load", "false", "--lb-policy", "least-request"]),
    ("skewless L4 cluster-wide (least-loaded)", "skewless",
     ["--cluster-load", "true", "--lb-policy", "least-loaded"]),
]


def websocket_bench(bin_dir, quick):
    """The multi-node lab with WebSocket clients: connections per pod, rounds per variant.

    Rounds are interleaved (each round runs every variant in turn) so that whatever else
    the shared machine does at the time falls on every variant alike."""
    rounds = 2 if quick else 10
    results = [{"label": label, "runs": []} for label, _, _ in WEBSOCKET_VARIANTS]
    load_before = os.getloadavg()[0]
    for i in range(rounds):
        for (label, dataplane, extra), result in zip(WEBSOCKET_VARIANTS, results):
            say(f"websocket: {label}, round {i + 1}/{rounds}")
            r = lab_run(bin_dir, dataplane, 5, WEBSOCKET_TOPOLOGY + extra)
            ws = r["websocket"]
            result["runs"].append({
                "connections_max_over_mean": ws["connections_max_over_mean"],
                "messages_max_over_mean": r["spread"]["max_over_mean"],
                "p50_ms": r["latency_ms"]["p50"], "p99_ms": r["latency_ms"]["p99"],
                "messages": r["requests"],
                "failed_connections": ws["failed_connections"],
                "message_failures": ws["message_failures"]})
    return {"rounds": rounds, "results": results,
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def websocket_section(command, run):
    lines = [
        WEBSOCKET_BEGIN,
        "## Long-lived WebSocket connections: many nodes, one client each (lab)",
        "",
        f"`{command}` on {platform.node()} ({os.cpu_count()} cores), "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
        "`skewless-lab run --workload websocket` with 3 zones x 4 nodes, one long-lived "
        "WebSocket connection per node (python3-websockets on both sides: "
        "`skewless-ws-loadgen`, `skewless-ws-pod-server`), 6 pods, the clients starting 1 s "
        "apart in a random order (a rollout), no zone preference, 600 messages/s spread "
        "evenly over the connections and echoed by the pod each connection landed on, 5 s "
        "measured. WebSocket is HTTP/1.1, so the HTTP/2 splicer cannot help: the connect-time "
        "choice is all there is. Connections per pod: busiest / mean (1.00 is even), mean and "
        f"worst of {run['rounds']} rounds; messages per pod follow connections. Round trips "
        "are from each message's intended send time to its echo, through Python on both "
        "ends on 2 shared cores: they compare data paths only with each other (the "
        "rounds run the variants in turn, so other work on the machine falls on all alike; "
        f"its 1-minute load average was {run['load_before']:.1f} before and "
        f"{run['load_after']:.1f} after).",
        "",
        "| data path | connections max/mean, mean | worst | messages max/mean, mean "
        "| round trip p50 / p99 (ms), mean | failed connections / messages | rounds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def mean(values):
        return sum(values) / len(values)

    for r in run["results"]:
        runs = r["runs"]
        conns = [x["connections_max_over_mean"] for x in runs]
        lines.append(
            f"| {r['label']} | {mean(conns):.2f} | {max(conns):.2f} "
            f"| {mean([x['messages_max_over_mean'] for x in runs]):.2f} "
            f"| {mean([x['p50_ms'] for x in runs]):.2f} / {mean([x['p99_ms'] for x in runs]):.2f} "
            f"| {sum(x['failed_connections'] for x in runs)} / "
            f"{sum(x['message_failures'] for x in runs)} | {len(runs)} |")
    lines += ["", "Goal: connections per pod max/mean at most 1.10 cluster-wide.", WEBSOCKET_END]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build_dir")
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    parser.add_argument("--only", choices=["xds", "agent", "splicer", "abuse", "policy", "cluster",
                                           "lrs", "websocket"],
                        help="run one section and replace just that section of the report")
    args = parser.parse_args()
    if os.geteuid() != 0 and args.only not in ("policy", "lrs"):
        sys.exit("bench: needs root (the lab creates namespaces)")
    bin_dir = os.path.join(os.path.abspath(args.build_dir), "bin")
    flags = (" --quick" if args.quick else "") + (f" --only {args.only}" if args.only else "")
    command = "make bench" + (f" BENCH_FLAGS='{flags.strip()}'" if flags else "")
    if "MAKELEVEL" not in os.environ:  # run by hand: say exactly how
        command = shlex.join(["python3", "bench/run.py"] + sys.argv[1:])
    # Each section that runs alone: (measure, render, markers, what it is called).
    sections = {
        "splicer": (splicer_bench, splicer_section, SPLICER_BEGIN, SPLICER_END, "splicer"),
        "abuse": (abuse_bench, abuse_section, ABUSE_BEGIN, ABUSE_END, "splicer abuse"),
        "cluster": (cluster_bench, cluster_section, CLUSTER_BEGIN, CLUSTER_END,
                    "cluster-wide load"),
        "policy": (policy_bench, policy_section, POLICY_BEGIN, POLICY_END, "policy"),
        "lrs": (lrs_bench, lrs_section, LRS_BEGIN, LRS_END, "cluster-wide load at scale"),
        "websocket": (websocket_bench, websocket_section, WEBSOCKET_BEGIN, WEBSOCKET_END,
                      "WebSocket"),
        "xds": (xds_bench, xds_section, XDS_BEGIN, XDS_END, "control plane"),
        "agent": (agent_bench, agent_section, AGENT_BEGIN, AGENT_END, "node agent"),
    }
    if args.only:
        measure, render, begin, end, name = sections[args.only]
        splice_section(args.output, render(command, measure(bin_dir, args.quick)), begin, end)
        say(f"updated the {name} section of {args.output}")
        return
    seconds = 2 if args.quick else 8
    shapes = [(1, 1), (4, 4), (16, 4), (16, 16)]
    ceiling = generator_ceiling(bin_dir, seconds, shapes)
    lab = baselines(bin_dir, seconds)
    counts = [1, 1000] if args.quick else [1, 1000, 10000, 100000]
    connect = connect_cost(bin_dir, counts, 1000 if args.quick else 3000)
    xds = xds_bench(bin_dir, args.quick)
    agent = agent_bench(bin_dir, args.quick)
    splicer = splicer_bench(bin_dir, args.quick)
    abuse = abuse_bench(bin_dir, args.quick)
    policy = policy_bench(bin_dir, args.quick)
    cluster = cluster_bench(bin_dir, args.quick)
    lrs = lrs_bench(bin_dir, args.quick)
    websocket = websocket_bench(bin_dir, args.quick)
    write_report(args.output, command, ceiling, lab, connect)
    splice_section(args.output, xds_section(command, xds))
    splice_section(args.output, agent_section(command, agent), AGENT_BEGIN, AGENT_END)
    splice_section(args.output, splicer_section(command, splicer), SPLICER_BEGIN, SPLICER_END)
    splice_section(args.output, abuse_section(command, abuse), ABUSE_BEGIN, ABUSE_END)
    splice_section(args.output, policy_section(command, policy), POLICY_BEGIN, POLICY_END)
    splice_section(args.output, cluster_section(command, cluster), CLUSTER_BEGIN, CLUSTER_END)
    splice_section(args.output, lrs_section(command, lrs), LRS_BEGIN, LRS_END)
    splice_section(args.output, websocket_section(command, websocket), WEBSOCKET_BEGIN,
                   WEBSOCKET_END)
    say(f"wrote {args.output}")


if __name__ == "__main__":
    main()
