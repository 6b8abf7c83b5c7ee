#!/usr/bin/python3
"""A gRPC client that stops reading: sends STREAMS unary Echo.Work calls, each carrying
PAYLOAD bytes that the pod echoes back, then acknowledges none of the reply's DATA for
HOLD seconds (its HTTP/2 windows stay at the 65,535-byte default, so a proxy in front of
it must hold back or buffer the rest). Meanwhile it keeps reading the socket: the limit is
HTTP/2 flow control, not TCP's.

Prints two JSON lines on stdout: {"holding": true, "received": N} once every request is
sent, and after the hold, once every reply is read whole: {"replies": [{"status": ...,
"grpc_status": ..., "bytes": ...}, ...]}.

usage: slow_reader.py HOST PORT STREAMS PAYLOAD HOLD
"""
import json
import select
import socket
import sys
import time

import h2.config  # Debian's python3-h2
import h2.connection
import h2.events

PATH = "/skewless.lab.v1.Echo/Work"


def work_request(payload_bytes):
    # WorkRequest{payload = 1 (bytes)}: tag 0x0a, varint length, the bytes; gRPC-framed.
    length, varint = payload_bytes, b""
    while True:
        byte = length & 0x7F
        length >>= 7
        varint += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    message = b"\x0a" + varint + b"x" * payload_bytes
    return b"\x00" + len(message).to_bytes(4, "big") + message


class Client:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setblocking(False)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.replies = {}  # stream id → {"status", "grpc_status", "bytes", "ended"}
        self.unacked = []  # (stream id, flow-controlled length) not yet acknowledged
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        while data:
            select.select([], [self.sock], [], 10)
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                continue
            data = data[sent:]

    def pump(self, timeout):
        """Reads what has arrived (up to `timeout` s) and handles its events."""
        readable, _, _ = select.select([self.sock], [], [], timeout)
        if not readable:
            return
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("the server closed the connection")
        for event in self.conn.receive_data(data):
            reply = self.replies.get(getattr(event, "stream_id", None))
            if isinstance(event, h2.events.ResponseReceived):
                reply["status"] = dict(event.headers).get(b":status", b"").decode()
            elif isinstance(event, h2.events.DataReceived):
                reply["bytes"] += len(event.data)
                self.unacked.append((event.stream_id, event.flow_controlled_length))
            elif isinstance(event, h2.events.TrailersReceived):
                reply["grpc_status"] = dict(event.headers).get(b"grpc-status", b"").decode()
            elif isinstance(event, h2.events.StreamEnded):
                reply["ended"] = True
            elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                raise ConnectionError(f"the server ended the call: {event}")
        self.flush()

    def send_request(self, body):
        stream_id = self.conn.get_next_available_stream_id()
        self.replies[stream_id] = {"status": None, "grpc_status": None, "bytes": 0,
                                   "ended": False}
        self.conn.send_headers(stream_id, [
            (":method", "POST"), (":scheme", "http"), (":path", PATH),
            (":authority", "echo"), ("content-type", "application/grpc"), ("te", "trailers")])
        while body:
            window = min(self.conn.local_flow_control_window(stream_id),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                self.flush()
                self.pump(1.0)
                continue
            self.conn.send_data(stream_id, body[:window])
            body = body[window:]
            self.flush()
        self.conn.end_stream(stream_id)
        self.flush()

    def acknowledge(self):
        for stream_id, length in self.unacked:
            self.conn.acknowledge_received_data(length, stream_id)
        self.unacked.clear()
        self.flush()


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    streams, payload, hold = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    client = Client(host, port)
    body = work_request(payload)
    for _ in range(streams):
        client.send_request(body)
    print(json.dumps({"holding": True,
                      "received": sum(r["bytes"] for r in client.replies.values())}), flush=True)
    until = time.monotonic() + hold
    while time.monotonic() < until:
        client.pump(until - time.monotonic())
    deadline = time.monotonic() + 30
    while not all(r["ended"] for r in client.replies.values()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"replies not finished: {client.replies}")
        client.acknowledge()
        client.pump(1.0)
    print(json.dumps({"replies": list(client.replies.values())}), flush=True)


if __name__ == "__main__":
    main()
