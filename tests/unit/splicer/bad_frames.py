#!/usr/bin/python3
"""Sends one kind of malformed HTTP/2 to a server and prints, as JSON, the GOAWAY error
code that came back (null if none) and whether the server closed the connection.

usage: bad_frames.py HOST PORT CASE   (CASE: see CASES)
"""
import json
import socket
import struct
import sys

from hpack import Encoder  # Debian's python3-hpack (with python3-h2)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS, GOAWAY = 0x0, 0x1, 0x4, 0x7
END_STREAM, END_HEADERS = 0x1, 0x4
REQUEST = [(":method", "POST"), (":scheme", "http"), (":path", "/skewless.lab.v1.Echo/Work"),
           (":authority", "splicer"), ("content-type", "application/grpc"), ("te", "trailers")]


def frame(kind, flags, stream_id, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream_id) + payload


def hpack_bomb():
    # One 4,000-byte header, then 199 one-byte references to it: ~4 KB on the wire,
    # ~800 KB once decoded.
    block = Encoder().encode(REQUEST + [("x-bomb", "a" * 4000)] * 200)
    return frame(HEADERS, END_HEADERS, 1, block)


CASES = {
    "data_on_stream_0": lambda: frame(DATA, 0, 0, b"x"),
    "window_too_large": lambda: frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, 2**31)),
    "bad_hpack": lambda: frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\xff\xff\xff\xff\xff"),
    "hpack_bomb": hpack_bomb,
}


def main():
    host, port, case = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.create_connection((host, port), timeout=5)
    if case == "http1":
        sock.sendall(b"GET / HTTP/1.1\r\nHost: splicer\r\n\r\n")
    else:
        sock.sendall(PREFACE + frame(SETTINGS, 0, 0, b"") + CASES[case]())
    received = b""
    closed = False
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            received += chunk
    except socket.timeout:
        pass
    goaway = None
    offset = 0
    while offset + 9 <= len(received):
        length = int.from_bytes(received[offset:offset + 3], "big")
        kind = received[offset + 3]
        payload = received[offset + 9:offset + 9 + length]
        if kind == GOAWAY and len(payload) >= 8:
            goaway = int.from_bytes(payload[4:8], "big")
        offset += 9 + length
    print(json.dumps({"goaway_error": goaway, "closed": closed}))


if __name__ == "__main__":
    main()
