"""A TCP proxy in front of the S3 server that a test can close, to stop a worker at a known point.

While the gate is closed, each connection that sends a PUT waits at the gate (nothing else does:
start-up checks and reads go through), and the test hears of the first. A worker whose upload
waits there is inside a batch, deterministically however fast or slow the machine; opening the
gate lets the batch go on. Closed for long, it is also a store that stalls.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class Gate:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.held = threading.Event()  # a PUT arrived while the gate was closed
        self._open = threading.Event()
        self._open.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="gate", daemon=True).start()

    def close(self) -> None:
        self.held.clear()
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    def wait_held(self, timeout: float = 60) -> None:
        assert self.held.wait(timeout), f"no upload reached the gate within {timeout:g} s"

    def shutdown(self) -> None:
        self._open.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                if upstream and data.startswith(b"PUT ") and not self._open.is_set():
                    self.held.set()
                    self._open.wait()
                sink.sendall(data)
        for sock in (source, sink):  # one side closed: so does the other
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
