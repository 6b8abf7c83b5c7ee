#!/usr/bin/env python3
"""skewless benchmarks: runs every measurement side by side in one go and
writes docs/BENCHMARKS.md. Ratios, not lone times: this box is noisy.

Usage: bench/run.py BUILD_DIR [--quick]   (as root; `make bench` runs it)
"""
import argparse
import datetime
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def say(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class PodServer:
    """One skewless-pod-server on loopback (zero service time), for the generator ceiling
    and the splicer runs."""

    def __init__(self, bin_dir, name="bench-pod"):
        self.name = name
        self.proc = subprocess.Popen(
            [f"{bin_dir}/skewless-pod-server", "--name", name, "--zone", "bench",
             "--listen", "127.0.0.1:0", "--service-time-us", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
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
        "core: idle (no changes) and under churn (the bench's change rate).",
        "",
        "| endpoints | first sync | apply p50 / p99 | agent's own apply (mean) | RSS idle "
        "| of which shared-library pages | peak | CPU idle | CPU under churn |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['endpoints']:,} ({r['services']:,} Services) | {r['sync_ms'] / 1000:.2f} s "
            f"| {r['apply']['p50_ms']:.0f} / {r['apply']['p99_ms']:.0f} ms "
            f"| {r['agent_apply_mean_ms']:.1f} ms | {mib(r['rss_idle_kib'])} "
            f"| {mib(r['rss_idle_file_kib'])} | {mib(r['hwm_kib'])} "
            f"| {r['cpu_idle_percent']:.2f}% | {r['cpu_churn_percent']:.1f}% "
            f"({r['changes_per_second']:.0f} changes/s) |")
    goals = []
    for r in runs:
        if r["endpoints"] == 10000:
            ok = r["rss_idle_kib"] < 20 * 1024
            goals.append(
                f"under 20 MiB resident at 10,000 endpoints: {'met' if ok else 'NOT met'} "
                f"({mib(r['rss_idle_kib'])}; {mib(r['rss_idle_anon_kib'])} of it the agent's own "
                f"anonymous memory (heap, stacks), {mib(r['rss_idle_file_kib'])} file pages of the "
                "binary and Debian's shared libraries: protobuf, libstdc++, libc, nghttp2, "
                "libevent, libbpf; the agent links neither libgrpc nor OpenSSL)")
            goals.append(
                f"against Databricks' published agent figures (<{DATABRICKS_AGENT_MIB} MiB, "
                f"<{DATABRICKS_AGENT_CPU_PERCENT}% CPU): memory "
                f"{r['rss_idle_kib'] / 1024 / DATABRICKS_AGENT_MIB:.2f}x of theirs, idle CPU "
                f"{r['cpu_idle_percent']:.2f}% (published numbers, not a side-by-side run)")
    lines += ["", "Goals: " + "; ".join(goals) + "." if goals else "", AGENT_END]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build_dir")
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    parser.add_argument("--only", choices=["xds", "agent"],
                        help="run one section and replace just that section of the report")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (the lab creates namespaces)")
    bin_dir = os.path.join(os.path.abspath(args.build_dir), "bin")
    flags = (" --quick" if args.quick else "") + (f" --only {args.only}" if args.only else "")
    command = "make bench" + (f" BENCH_FLAGS='{flags.strip()}'" if flags else "")
    if args.only == "xds":
        splice_section(args.output, xds_section(command, xds_bench(bin_dir, args.quick)))
        say(f"updated the control plane section of {args.output}")
        return
    if args.only == "agent":
        splice_section(args.output, agent_section(command, agent_bench(bin_dir, args.quick)),
                       AGENT_BEGIN, AGENT_END)
        say(f"updated the node agent section of {args.output}")
        return
    seconds = 2 if args.quick else 8
    shapes = [(1, 1), (4, 4), (16, 4), (16, 16)]
    ceiling = generator_ceiling(bin_dir, seconds, shapes)
    lab = baselines(bin_dir, seconds)
    counts = [1, 1000] if args.quick else [1, 1000, 10000, 100000]
    connect = connect_cost(bin_dir, counts, 1000 if args.quick else 3000)
    xds = xds_bench(bin_dir, args.quick)
    agent = agent_bench(bin_dir, args.quick)
    write_report(args.output, command, ceiling, lab, connect)
    splice_section(args.output, xds_section(command, xds))
    splice_section(args.output, agent_section(command, agent), AGENT_BEGIN, AGENT_END)
    say(f"wrote {args.output}")


if __name__ == "__main__":
    main()
