#!/usr/bin/env bash
# Installs the Debian 12 packages skewless builds, tests and benchmarks with.
# Idempotent: installs only what is missing, and runs apt-get update only then.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config clang llvm clang-format
  # BPF: libbpf loads skeletons, bpftool generates them (and vmlinux.h)
  libbpf-dev bpftool libelf-dev zlib1g-dev
  # RPC and serialisation
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # HTTP/2 framing and HPACK: the agent's gRPC call, the splicer
  libnghttp2-dev
  # CLI, JSON, YAML, logging, tests
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  # HTTP: the Kubernetes API client (HTTPS), /metrics and /healthz, the API simulator;
  # OpenSSL is also the agent's TLS to the control plane
  libcpp-httplib-dev libssl-dev
  # HTTP server for /metrics and probes (libevent's evhttp, plain HTTP)
  libevent-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # the lab: namespaces, veths, kube-proxy's two dataplanes, load peers
  iproute2 iptables nftables nghttp2-client procps
  # benchmark driver and (later) crafted-frame tests
  python3 python3-h2
  # make demo's chart (scripts/demo_chart.py)
  python3-matplotlib
  # the lab's WebSocket workload (skewless-ws-pod-server, skewless-ws-loadgen): a real
  # WebSocket library on both sides of the connection, asyncio, client and server
  python3-websockets
  # make kernel-test: Debian kernels booted in qemu with a busybox initramfs
  qemu-system-x86 busybox-static cpio file
  # benchmark baselines: nginx (grpc_pass) and haproxy (HTTP/2 to backends) in front of the
  # splicer's pods; bench/run.py runs its own instances from temp configs, never the services
  nginx haproxy
)

# The control plane's interop test runs Node's @grpc/grpc-js-xds (from npm, pinned in
# tests/interop/node): Debian's nodejs and npm unless a node is already installed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

if [[ $EUID -ne 0 ]]; then
  echo "install-deps: must run as root (apt-get install); try: sudo $0" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null

# Debian enables (and, with systemd running, starts) a service for each baseline proxy we
# just installed: they are only benchmark baselines here, so stop and disable them.
for service in nginx haproxy; do
  if [[ " ${missing[*]} " == *" $service "* ]] && command -v systemctl >/dev/null; then
    systemctl stop "$service" >/dev/null 2>&1 || true
    systemctl disable "$service" >/dev/null 2>&1 || true
  fi
done
