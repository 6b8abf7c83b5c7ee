#!/usr/bin/env python3
"""Opens one TCP connection after another to VIP:PORT and prints, per connection,
"<CLOCK_MONOTONIC ns> <backend ip>" (or "<ns> ERR <reason>"), flushed at once.

The steering hooks hide the backend from getpeername() (it reports the VIP the app
dialled), so the backend is read where the kernel keeps the real peer: this network
namespace's /proc/net/tcp, found by the connection's local port.
"""
import socket
import sys
import time


def backend_of(local_port):
    for path, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(path) as table:
            next(table)
            for line in table:
                fields = line.split()
                local, remote, state = fields[1], fields[2], fields[3]
                if state != "01" or int(local.split(":")[1], 16) != local_port:
                    continue
                address = remote.split(":")[0]
                if width == 32:
                    address = address[-8:]  # v4-mapped: the last word
                raw = bytes.fromhex(address)[::-1]  # little-endian words
                return socket.inet_ntoa(raw)
    return None


def main():
    vip, port, interval_ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    while True:
        started = time.monotonic_ns()
        try:
            with socket.create_connection((vip, port), timeout=1.0) as conn:
                backend = backend_of(conn.getsockname()[1])
                print(f"{started} {backend or 'ERR unknown-peer'}", flush=True)
        except OSError as error:
            print(f"{started} ERR {error.strerror or error}", flush=True)
        time.sleep(interval_ms / 1000.0)


if __name__ == "__main__":
    main()
