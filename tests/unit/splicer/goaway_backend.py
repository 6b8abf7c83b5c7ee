#!/usr/bin/python3
"""An HTTP/2 backend that refuses every stream: on each request it sends GOAWAY with
last-stream-id 0 (NO_ERROR), as a server shutting down does for streams it will not
process. Prints its port, then serves until killed.
"""
import socket
import threading

import h2.config  # Debian's python3-h2
import h2.connection
import h2.events


def serve(conn_sock):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    conn_sock.sendall(conn.data_to_send())
    while True:
        data = conn_sock.recv(65536)
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                conn.close_connection(error_code=0, last_stream_id=0)
        conn_sock.sendall(conn.data_to_send())


def main():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    print(listener.getsockname()[1], flush=True)
    while True:
        conn_sock, _ = listener.accept()
        threading.Thread(target=serve, args=(conn_sock,), daemon=True).start()


if __name__ == "__main__":
    main()
