#!/usr/bin/python3
"""skewless-ws-loadgen: long-lived WebSocket connections with messages flowing.

The lab runs one in each client node's namespace and cgroup when `--workload websocket`.
It opens --clients WebSocket connections (python3-websockets) to the Service, reads each
one's greeting (the pod's name and zone: which pod the connection landed on), then sends
messages on every connection at --rate (messages/s over all of them; 0 = closed loop with
--concurrency outstanding per connection) and matches each echo to what was sent. A
connection is held from its start to the end: WebSocket clients keep one connection, so a
pod's load is however many connections landed on it.

At the end (or SIGTERM) it prints one JSON object (schema skewless.lab.websocket-load/v1):
per connection the pod, messages echoed in the measured period and during warmup,
failures (messages never echoed, or echoed wrong) and the round trips in microseconds
from each message's intended send time (no coordinated omission).
"""

import argparse
import asyncio
import collections
import json
import signal
import sys

import websockets

SCHEMA = "skewless.lab.websocket-load/v1"
# How long the end waits for echoes still in flight before calling them failures.
DRAIN_S = 3.0


def duration(text):
    for unit, scale in (("ms", 1e-3), ("s", 1.0), ("m", 60.0)):
        if text.endswith(unit):
            try:
                return float(text[:-len(unit)]) * scale
            except ValueError:
                break
    raise argparse.ArgumentTypeError(f"'{text}' is not a duration like 10s or 1500ms")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="The Service, IP:PORT (ws://IP:PORT/)")
    parser.add_argument("--clients", type=int, default=1,
                        help="Long-lived WebSocket connections this process holds")
    parser.add_argument("--rate", type=float, default=0,
                        help="Messages per second over all of this process's connections, "
                             "split evenly; 0 = closed loop")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="Closed loop only: messages outstanding per connection")
    parser.add_argument("--duration", type=duration, default=10.0,
                        help="Length of the measured period, e.g. 10s or 1500ms")
    parser.add_argument("--warmup", type=duration, default=0.0,
                        help="Messages sent before the measured period (counted apart), "
                             "e.g. 2s")
    parser.add_argument("--zone", default="", help="This client's zone, copied to the result")
    parser.add_argument("--message-bytes", type=int, default=64,
                        help="Size of each message (text)")
    args = parser.parse_args()
    if args.clients < 1 or args.rate < 0 or args.concurrency < 1 or args.message_bytes < 16:
        parser.error("--clients and --concurrency must be >= 1, --rate >= 0, "
                     "--message-bytes >= 16")
    return args


class Connection:
    """One WebSocket connection: its pod, its counts and its round trips."""

    def __init__(self, index):
        self.index = index
        self.pod = ""
        self.pod_zone = ""
        self.messages = 0
        self.warmup_messages = 0
        self.failures = 0
        self.error = ""
        self.rtt_us = []

    def to_json(self):
        return {"id": self.index, "pod": self.pod, "pod_zone": self.pod_zone,
                "messages": self.messages, "warmup_messages": self.warmup_messages,
                "failures": self.failures, "error": self.error, "rtt_us": self.rtt_us}


async def hold(conn, args, loop, measure_start, measure_end, stop):
    uri = f"ws://{args.target}/"
    try:
        # No compression (the server offers none either) and no keepalive pings: the
        # messages themselves keep the connection busy, and pings would be echoes we did
        # not send.
        ws = await websockets.connect(uri, compression=None, open_timeout=10, ping_interval=None)
    except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
        conn.error = f"connect to {uri}: {e!r}"
        return
    try:
        greeting = json.loads(await asyncio.wait_for(ws.recv(), 10))
        conn.pod, conn.pod_zone = greeting["pod"], greeting["zone"]
    except (asyncio.TimeoutError, websockets.WebSocketException, ValueError, KeyError) as e:
        conn.error = f"no greeting from {uri}: {e!r}"
        await ws.close()
        return

    pending = collections.deque()  # (message, intended send time), in send order
    closed_loop = args.rate == 0
    window = asyncio.Semaphore(args.concurrency) if closed_loop else None
    pad = "x" * args.message_bytes

    async def receive():
        try:
            await read_echoes()
        finally:
            # A dead connection must not leave the closed-loop sender waiting for a slot.
            if window is not None:
                for _ in range(args.concurrency):
                    window.release()

    async def read_echoes():
        async for echo in ws:
            now = loop.time()
            if not pending:
                conn.failures += 1  # an echo of nothing we sent
                continue
            sent, intended = pending.popleft()
            if echo != sent:
                conn.failures += 1
            elif intended >= measure_start:
                conn.messages += 1
                conn.rtt_us.append(int((now - intended) * 1e6))
            else:
                conn.warmup_messages += 1
            if window is not None:
                window.release()

    receiver = asyncio.create_task(receive())
    seq = 0
    try:
        # Open loop: connection i's k-th message is due at start + (k + i/N) / rate, so the
        # process's connections take turns rather than sending in bursts.
        period = 0 if closed_loop else args.clients / args.rate
        start = loop.time() + period * conn.index / args.clients
        while not stop.is_set() and not receiver.done():
            if closed_loop:
                await window.acquire()
                intended = loop.time()
            else:
                intended = start + seq * period
                if intended - loop.time() > 0:
                    await asyncio.sleep(intended - loop.time())
            if intended >= measure_end or stop.is_set():
                break
            message = f"{conn.index} {seq} {pad}"[:args.message_bytes]
            pending.append((message, intended))
            await ws.send(message)
            seq += 1
        # Let the echoes in flight come back before closing.
        deadline = loop.time() + DRAIN_S
        while pending and not receiver.done() and loop.time() < deadline:
            await asyncio.sleep(0.01)
    except websockets.WebSocketException as e:
        conn.error = f"{e!r}"
    finally:
        receiver.cancel()
        try:
            await receiver
        except asyncio.CancelledError:
            pass
        except websockets.WebSocketException as e:
            conn.error = conn.error or f"{e!r}"
        if pending:
            conn.failures += len(pending)
            conn.error = conn.error or f"{len(pending)} messages never echoed"
        await ws.close()


async def run(args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signo in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signo, stop.set)
    began = loop.time()
    measure_start = began + args.warmup
    measure_end = measure_start + args.duration
    conns = [Connection(i) for i in range(args.clients)]
    await asyncio.gather(*(hold(c, args, loop, measure_start, measure_end, stop) for c in conns))
    elapsed = max(0.0, min(loop.time(), measure_end) - measure_start)
    return {"schema": SCHEMA, "target": args.target, "zone": args.zone,
            "offered_rate": args.rate, "elapsed_s": elapsed,
            "connections": [c.to_json() for c in conns]}


def main():
    args = parse_args()
    result = asyncio.run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
