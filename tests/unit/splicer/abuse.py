#!/usr/bin/python3
"""Hostile and careless HTTP/2 clients for the splicer's abuse suite (splicer_abuse_test.cc).
Each attack runs against HOST PORT for at most its own bounded time, then prints one JSON
line saying what the server did to it.

usage: abuse.py HOST PORT ATTACK [ARGS...]
  zero_window STREAMS PAYLOAD HOLD   Echo.Work calls echoing PAYLOAD bytes each, with an
                                     initial stream window of 0 and no WINDOW_UPDATE ever:
                                     not one reply byte can be delivered for HOLD seconds
  big_headers STREAMS BYTES          calls with BYTES of extra headers, ignoring the limit
                                     the server advertised
  header_memory CONNS STREAMS BYTES HOLD
                                     CONNS connections of STREAMS open calls, each header list
                                     BYTES decoded from a few wire bytes (HPACK references);
                                     requests never end, nothing is read, for HOLD seconds
  zero_window_many CONNS STREAMS PAYLOAD HOLD
                                     zero_window on CONNS connections at once
  after_goaway STREAMS               waits for the server's GOAWAY, then opens STREAMS more
                                     calls as if it had not seen it
  half_preface CONNS WAIT            CONNS connections that send half the client preface,
                                     then nothing: how many the server closed within WAIT s
  idle CONNS WAIT                    the same with a whole preface and no stream
  ping_flood COUNT / settings_flood COUNT
                                     COUNT PINGs (or empty SETTINGS) in one burst, nothing read
"""
import json
import resource
import select
import socket
import struct
import sys
import time

import h2.config  # Debian's python3-h2
import h2.connection
import h2.events
import h2.settings

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, PING, GOAWAY = 0x4, 0x6, 0x7
REQUEST = [(":method", "POST"), (":scheme", "http"), (":path", "/skewless.lab.v1.Echo/Work"),
           (":authority", "echo"), ("content-type", "application/grpc"), ("te", "trailers")]


def work_request(payload_bytes):
    """A gRPC-framed WorkRequest{payload}: the pod echoes the payload back."""
    length, varint = payload_bytes, b""
    while True:
        varint += bytes([(length & 0x7F) | (0x80 if length >> 7 else 0)])
        length >>= 7
        if not length:
            break
    message = b"\x0a" + varint + b"p" * payload_bytes
    return b"\x00" + len(message).to_bytes(4, "big") + message


class Peer:
    """One h2 client connection on a nonblocking socket; records what each stream got."""

    def __init__(self, host, port, initial_window=None):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setblocking(False)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False))
        self.conn.initiate_connection()
        if initial_window is not None:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE:
                                       initial_window})
        self.streams = {}  # id -> {"grpc_status", "status", "bytes", "reset", "ended"}
        self.goaway = None
        self.closed = False
        self.wire_bytes = 0  # sent
        self.flush()

    def flush(self, wait=10):
        data = self.conn.data_to_send()
        deadline = time.monotonic() + wait
        while data and not self.closed and time.monotonic() < deadline:
            select.select([], [self.sock], [], 0.1)
            try:
                sent = self.sock.send(data)
                self.wire_bytes += sent
                data = data[sent:]
            except BlockingIOError:
                pass
            except OSError:
                self.closed = True

    def pump(self, timeout):
        if self.closed:
            time.sleep(max(timeout, 0))
            return
        readable, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not readable:
            return
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return
        for event in self.conn.receive_data(data):
            stream = self.streams.get(getattr(event, "stream_id", None))
            if isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = event.error_code
            elif stream is None:
                continue
            elif isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                headers = dict(event.headers)
                if b":status" in headers:
                    stream["status"] = int(headers[b":status"])
                if b"grpc-status" in headers:
                    stream["grpc_status"] = int(headers[b"grpc-status"])
            elif isinstance(event, h2.events.DataReceived):
                stream["bytes"] += len(event.data)
            elif isinstance(event, h2.events.StreamReset):
                stream["reset"] = int(event.error_code)
            elif isinstance(event, h2.events.StreamEnded):
                stream["ended"] = True
        self.flush(wait=1)

    def request(self, extra_headers=(), body=None, end=True):
        stream_id = self.conn.get_next_available_stream_id()
        self.streams[stream_id] = {"grpc_status": None, "status": None, "bytes": 0,
                                   "reset": None, "ended": False}
        had_body = body is not None
        self.conn.send_headers(stream_id, REQUEST + list(extra_headers),
                               end_stream=end and not had_body)
        while body:
            window = min(self.conn.local_flow_control_window(stream_id),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                self.flush()
                self.pump(0.5)
                if self.closed or self.streams[stream_id]["reset"] is not None:
                    return stream_id
                continue
            self.conn.send_data(stream_id, body[:window])
            body = body[window:]
        if end and had_body and self.streams[stream_id]["reset"] is None and not self.closed:
            self.conn.end_stream(stream_id)
        self.flush()
        return stream_id

    def hold(self, seconds):
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.pump(until - time.monotonic())

    def summary(self):
        resets, statuses = {}, {}
        for stream in self.streams.values():
            if stream["reset"] is not None:
                resets[str(stream["reset"])] = resets.get(str(stream["reset"]), 0) + 1
            status = stream["grpc_status"] if stream["grpc_status"] is not None else stream["status"]
            if status is not None:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
        return {"streams": len(self.streams), "resets": resets, "statuses": statuses,
                "reply_bytes": sum(s["bytes"] for s in self.streams.values()),
                "goaway": self.goaway, "closed": self.closed}


def zero_window(host, port, streams, payload, hold):
    peer = Peer(host, port, initial_window=0)
    body = work_request(int(payload))
    for _ in range(int(streams)):
        peer.request(body=body)
        if peer.closed:
            break
    peer.hold(float(hold))
    return peer.summary()


def zero_window_many(host, port, conns, streams, payload, hold):
    body = work_request(int(payload))
    peers = []
    for _ in range(int(conns)):
        peer = Peer(host, port, initial_window=0)
        for _ in range(int(streams)):
            peer.request(body=body)
            if peer.closed:
                break
        peers.append(peer)
    until = time.monotonic() + float(hold)
    while time.monotonic() < until:
        for peer in peers:
            peer.pump(0.02)
    return {"connections": [peer.summary() for peer in peers]}


def after_goaway(host, port, streams):
    from hpack import Encoder  # Debian's python3-hpack (with python3-h2)
    encoder = Encoder()
    sock = socket.create_connection((host, port), timeout=10)
    # Stream 1 stays open (its request never ends), so the connection outlives the GOAWAY.
    sock.sendall(PREFACE + raw_frame(SETTINGS, 0, 0, b"") +
                 raw_frame(0x1, 0x4, 1, encoder.encode(REQUEST)))
    received, goaway_at = b"", None
    deadline = time.monotonic() + 10
    while goaway_at is None and time.monotonic() < deadline:
        received += sock.recv(1 << 16)
        for kind, _, _, payload in frames(received):
            if kind == GOAWAY:
                goaway_at = len(received)
    if goaway_at is None:
        return {"goaway": None}
    # As a client that ignores the GOAWAY: new streams on the same connection.
    burst = b"".join(raw_frame(0x1, 0x5, 2 * i + 3, encoder.encode(REQUEST))
                     for i in range(int(streams)))
    try:
        sock.sendall(burst)
    except OSError:
        pass
    sock.settimeout(1)
    try:
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            received += chunk
    except OSError:
        pass
    responses, resets = 0, {}
    for kind, _, stream_id, payload in frames(received[goaway_at:]):
        if kind == 0x1 and stream_id > 1:
            responses += 1
        elif kind == 0x3 and stream_id > 1:
            code = str(int.from_bytes(payload[:4], "big"))
            resets[code] = resets.get(code, 0) + 1
    return {"goaway": True, "responses": responses, "resets": resets}


def frames(data):
    """(type, flags, stream id, payload) of each whole frame in `data` (after any preface)."""
    offset = 0
    while offset + 9 <= len(data):
        length = int.from_bytes(data[offset:offset + 3], "big")
        if offset + 9 + length > len(data):
            break
        stream_id = int.from_bytes(data[offset + 5:offset + 9], "big") & 0x7FFFFFFF
        yield data[offset + 3], data[offset + 4], stream_id, data[offset + 9:offset + 9 + length]
        offset += 9 + length


def big_headers(host, port, streams, size):
    peer = Peer(host, port)
    for i in range(int(streams)):
        peer.request(extra_headers=[("x-big", "b" * int(size)), ("x-call", str(i))])
    peer.hold(2)
    return peer.summary()


def header_memory(host, port, conns, streams, size, hold):
    # One 3,000-byte field fits HPACK's 4 KiB table beside the request's own fields: sent
    # once, then referenced by index,
    # so each request's list decodes to `size` bytes from a few bytes on the wire.
    field = ("x-pad", "h" * 3000)
    extra = [field] * (int(size) // 3040)
    peers = []
    for _ in range(int(conns)):
        peer = Peer(host, port)
        for _ in range(int(streams)):
            peer.request(extra_headers=extra, end=False)
            if peer.closed:
                break
        peers.append(peer)
    time.sleep(float(hold))  # nothing read: whatever the server keeps, it keeps now
    result = {"wire_bytes": sum(p.wire_bytes for p in peers), "connections": len(peers),
              "closed": sum(1 for p in peers if p.closed)}
    for peer in peers:
        peer.sock.close()
    return result


def stalled_connections(host, port, conns, wait, greeting):
    socks = {}
    for _ in range(int(conns)):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(greeting)
        sock.setblocking(False)
        socks[sock.fileno()] = sock
    poller = select.poll()  # select() takes no descriptor above 1023
    for fd in socks:
        poller.register(fd, select.POLLIN)
    start, closed, deadline = time.monotonic(), 0, time.monotonic() + float(wait)
    while closed < len(socks) and time.monotonic() < deadline:
        for fd, _ in poller.poll(100):
            try:
                data = socks[fd].recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                poller.unregister(fd)
                closed += 1
    result = {"connections": len(socks), "closed": closed,
              "seconds": round(time.monotonic() - start, 3)}
    for sock in socks.values():
        sock.close()
    return result


def raw_frame(kind, flags, stream_id, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream_id) + payload


def main():
    host, port, attack, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    # Thousands of connections: as many descriptors as the hard limit allows.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if attack == "zero_window":
        result = zero_window(host, port, *args)
    elif attack == "zero_window_many":
        result = zero_window_many(host, port, *args)
    elif attack == "after_goaway":
        result = after_goaway(host, port, *args)
    elif attack == "big_headers":
        result = big_headers(host, port, *args)
    elif attack == "header_memory":
        result = header_memory(host, port, *args)
    elif attack == "half_preface":
        result = stalled_connections(host, port, args[0], args[1], PREFACE[:12])
    elif attack == "idle":
        result = stalled_connections(host, port, args[0], args[1],
                                     PREFACE + raw_frame(SETTINGS, 0, 0, b""))
    elif attack in ("ping_flood", "settings_flood"):
        one = raw_frame(PING, 0, 0, b"12345678") if attack == "ping_flood" else \
            raw_frame(SETTINGS, 0, 0, b"")
        result = flood_frames(host, port, int(args[0]), one)
    else:
        sys.exit(f"abuse.py: unknown attack {attack!r}")
    print(json.dumps(result), flush=True)


def flood_frames(host, port, count, one):
    sock = socket.create_connection((host, port), timeout=10)
    try:
        sock.sendall(PREFACE + raw_frame(SETTINGS, 0, 0, b"") + one * count)
    except OSError:
        pass
    received, closed = b"", False
    sock.settimeout(5)
    try:
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                closed = True
                break
            received += chunk
    except OSError:
        closed = True
    goaway = None
    for kind, _, _, payload in frames(received):
        if kind == GOAWAY and len(payload) >= 8:
            goaway = int.from_bytes(payload[4:8], "big")
    return {"goaway": goaway, "closed": closed}


if __name__ == "__main__":
    main()
