#!/usr/bin/python3
"""Draws `make demo`'s chart: per-pod share of requests and client latency, per phase.

Usage: scripts/demo_chart.py REPORTS.json OUT.png
REPORTS.json is what `skewless-lab demo --save` writes: one report per phase.
"""
import json
import sys

try:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("demo_chart: python3-matplotlib is not installed (make deps installs it)")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        reports = json.load(f)
    if not reports:
        sys.exit("demo_chart: no reports in " + sys.argv[1])
    pods = [p["pod"] for p in reports[0]["pods"]]
    labels = [r["label"] for r in reports]

    fig, (shares, latency) = plt.subplots(1, 2, figsize=(13, 5))
    width = 0.8 / len(reports)
    for i, report in enumerate(reports):
        share = {p["pod"]: 100 * p["share"] for p in report["pods"]}
        xs = [j + i * width for j in range(len(pods))]
        shares.bar(xs, [share.get(pod, 0) for pod in pods], width, label=report["label"])
    even = 100 / len(pods)
    shares.axhline(even, color="black", linestyle="--", linewidth=1, label=f"even ({even:.1f}%)")
    shares.set_xticks([j + 0.4 - width / 2 for j in range(len(pods))])
    shares.set_xticklabels(
        [f"{p['pod']}\n{p['zone']}" for p in reports[0]["pods"]], fontsize=8)
    shares.set_ylabel("share of requests (%)")
    shares.set_title("Per-pod share of the same workload")
    shares.legend(fontsize=8)

    xs = range(len(reports))
    for key, marker in (("p50", "o"), ("p99", "s"), ("p99.9", "^")):
        latency.plot(xs, [r["latency_ms"][key] for r in reports], marker=marker, label=key)
    latency.set_xticks(list(xs))
    # "skewless L4 least-loaded cluster-wide" is too long for one tick line.
    latency.set_xticklabels([label.replace(" (", "\n(").replace(" least-", "\nleast-")
                             for label in labels], fontsize=8)
    latency.set_ylabel("client latency (ms)")
    latency.set_title("Latency per phase")
    latency.legend(fontsize=8)
    latency.set_ylim(bottom=0)

    fig.suptitle("skewless lab: one workload through kube-proxy, skewless L4 (node-local and "
                 "cluster-wide) and skewless L7")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    print(f"chart: {sys.argv[2]}")


if __name__ == "__main__":
    main()
