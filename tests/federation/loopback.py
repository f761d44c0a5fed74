"""A scripted HTTP/1.1 server on 127.0.0.1 for the delivery transport tests (TEST ONLY).

One thread accepts, one thread per connection reads requests (head plus Content-Length body)
and answers what the test's `respond(request)` returns. It records every connection and every
request it processed, so tests can count TCP connections and deliveries.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    connection: int  # 1-based number of the TCP connection it came on
    index: int  # 0-based position on that connection
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    """What the server does with a request: write `data`, then maybe close the connection.

    `drop`: close the connection without answering and without counting the request as
    processed (a peer that closed an idle connection just as the request arrived).
    `hang`: wait this many seconds before doing anything (timeouts).
    """

    data: bytes = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
    close: bool = False
    drop: bool = False
    hang: float = 0.0


def accepted() -> Reply:
    return Reply()


@dataclass
class LoopbackServer:
    respond: Callable[[Request], Reply] = field(default=lambda request: accepted())
    tls: ssl.SSLContext | None = None
    #: Close a connection that stayed idle this long after its last answer (None: never).
    idle_close: float | None = None

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.closed_connections = 0
        self.requests: list[Request] = []
        self.received = 0  # requests read, processed or dropped
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.sockets: list[socket.socket] = []

    def __enter__(self) -> LoopbackServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self.threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        for thread in self.threads:
            thread.join(timeout=5)

    def wait_closed(self, count: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.closed_connections >= count:
                    return True
            time.sleep(0.01)
        return False

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
                self.sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock, number), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _serve(self, sock: socket.socket, number: int) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
                with self.lock:
                    self.sockets.append(sock)
            self._loop(sock, number)
        except OSError:
            pass
        finally:
            sock.close()
            with self.lock:
                self.closed_connections += 1

    def _loop(self, sock: socket.socket, number: int) -> None:
        buffer = b""
        index = 0
        while not self.stopping.is_set():
            while b"\r\n\r\n" not in buffer:
                sock.settimeout(self.idle_close)
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    return  # idle too long: close, as a web server does
                if not data:
                    return
                buffer += data
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            sock.settimeout(5)
            while len(buffer) < length:
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
            body, buffer = buffer[:length], buffer[length:]
            request = Request(number, index, method, path, headers, body)
            index += 1
            with self.lock:
                self.received += 1
            reply = self.respond(request)
            if reply.hang:
                self.stopping.wait(reply.hang)
            if reply.drop:
                return
            with self.lock:
                self.requests.append(request)
            sock.sendall(reply.data)
            if reply.close:
                return
