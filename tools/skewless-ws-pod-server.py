#!/usr/bin/python3
"""skewless-ws-pod-server: one lab pod serving WebSocket (python3-websockets).

The lab runs it in a pod's namespace on the Service port when `--workload websocket`.
It greets every connection with its name and zone (so a client can attribute the
connection to a pod), then echoes each message after the service time. It prints
`READY <addr>` once listening and, at SIGTERM, one JSON line of its own counters in the
gRPC pod server's format (`work_served` = messages echoed, `connections_seen` =
connections accepted), which the lab's StopPods reads unchanged.
"""

import argparse
import asyncio
import json
import signal
import sys

import websockets


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="The pod's name, sent in the greeting")
    parser.add_argument("--zone", required=True,
                        help="The pod's topology.kubernetes.io/zone, sent in the greeting")
    parser.add_argument("--listen", required=True, help="IP:PORT to listen on")
    parser.add_argument("--service-time-us", type=int, default=0,
                        help="Time each echo waits before it is sent, in microseconds "
                             "(a sleep, not CPU)")
    parser.add_argument("--slow-factor", type=float, default=1.0,
                        help="Multiplies the service time (a slow pod)")
    return parser.parse_args()


async def serve(args):
    host, _, port = args.listen.rpartition(":")
    delay = args.service_time_us * args.slow_factor / 1e6
    counters = {"pod": args.name, "zone": args.zone, "work_served": 0, "connections_seen": 0,
                "connections_open": 0}
    greeting = json.dumps({"pod": args.name, "zone": args.zone})

    async def handler(websocket):
        counters["connections_seen"] += 1
        counters["connections_open"] += 1
        try:
            await websocket.send(greeting)
            # In order, one at a time: a connection's echoes come back in the order sent,
            # which is what the client's round-trip matching relies on.
            async for message in websocket:
                if delay > 0:
                    await asyncio.sleep(delay)
                await websocket.send(message)
                counters["work_served"] += 1
        except websockets.ConnectionClosed:
            pass  # the client went away: nothing to answer
        finally:
            counters["connections_open"] -= 1

    stop = asyncio.get_running_loop().create_future()
    for signo in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signo, stop.set_result, None)
    # No compression: the echo is the workload, and per-message deflate would cost CPU the
    # two shared cores need for the other pods and clients.
    async with websockets.serve(handler, host, int(port), compression=None, max_size=1 << 20):
        print(f"READY {args.listen}", flush=True)
        await stop
    print(json.dumps(counters), flush=True)


def main():
    args = parse_args()
    try:
        asyncio.run(serve(args))
    except OSError as e:
        print(f"skewless-ws-pod-server: cannot listen on {args.listen}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
