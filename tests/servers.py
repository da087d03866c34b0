"""Loopback HTTP(S) test servers you program per path. No test touches the internet.

    from tests.servers import Reply, Server, redirect

    with Server() as srv:                              # 127.0.0.1, random port
        srv.route("/feed", Reply(body=b"<rss/>", headers={"Content-Type": "application/rss+xml"}))
        srv.route("/old", redirect("/feed", 301))
        srv.route("/slow", Reply(body=b"x" * 100, drip=0.5))   # one byte every 0.5 s
        srv.route("/dyn", lambda req: Reply(status=304) if req.headers.get("if-none-match") else Reply(body=b"x"))
        srv.route("*", Reply(status=404))              # fallback (default is a plain 404)
        httpx.get(srv.url("/feed"))
        assert srv.hits["/feed"] == 1 and srv.connections >= 1

``Reply`` fields: status, body, headers, delay (before the status line), header_drip (seconds
between header bytes), drip / drip_size (body pacing), hang (read the request, never answer),
chunked, content_length (False: close-delimited body). ``hits`` counts requests per path,
``connections`` counts accepted TCP connections (a canary wants both at zero), ``requests``
keeps method/path/headers of each. ``Server(host="127.0.0.3")`` binds any loopback address;
``Server(ssl_context=ctx)`` serves HTTPS. Closing the server releases hanging/dripping handlers.
"""

from __future__ import annotations

import collections
import http.server
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] | tuple[tuple[str, str], ...] = field(default_factory=dict)
    delay: float = 0.0
    header_drip: float | None = None
    drip: float | None = None
    drip_size: int = 1
    hang: bool = False
    chunked: bool = False
    content_length: bool = True


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, headers={"Location": location})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names


Route = Reply | Callable[[Request], Reply]

_REASONS = {c.value: c.phrase for c in http.HTTPStatus}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers
    server: _HTTPServer

    def log_message(self, format, *args):  # quiet: pytest output is for failures
        pass

    def do_GET(self):
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _serve(self) -> None:
        owner = self.server.owner
        req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
        route = owner._match(req)
        reply = route(req) if callable(route) else route
        stop = owner._stopping
        if reply.hang or (reply.delay and stop.wait(reply.delay)):
            stop.wait()
            self.close_connection = True
            return
        if stop.is_set():
            return
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        items = list(reply.headers.items() if isinstance(reply.headers, dict) else reply.headers)
        names = {k.lower() for k, _ in items}
        if reply.chunked:
            items.append(("Transfer-Encoding", "chunked"))
        elif reply.content_length and "content-length" not in names:
            items.append(("Content-Length", str(len(body))))
        elif not reply.content_length:
            items.append(("Connection", "close"))
            self.close_connection = True
        head = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in items) + "\r\n"
        self._send(head.encode("latin-1"), reply.header_drip, 1)
        if self.command == "HEAD":
            return
        if reply.chunked:
            body = (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
        self._send(body, reply.drip, reply.drip_size)

    def _send(self, data: bytes, every: float | None, size: int) -> None:
        if not every:
            self.wfile.write(data)
            self.wfile.flush()
            return
        for i in range(0, len(data), size):
            self.wfile.write(data[i : i + size])
            self.wfile.flush()
            if self.server.owner._stopping.wait(every):
                raise ConnectionAbortedError("server closing")


class _HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: Server

    def process_request(self, request, client_address):
        self.owner._accepted(request)
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        # Clients hanging up mid-drip is the point of many tests; nothing to report.
        pass


class Server:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ):
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._live: set[socket.socket] = set()
        self.hits: collections.Counter[str] = collections.Counter()
        self.connections = 0
        self.requests: list[Request] = []
        cls = type(
            "_S",
            (_HTTPServer,),
            {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET},
        )
        self._httpd = cls((host, port), _Handler, bind_and_activate=True)
        self._httpd.owner = self
        if ssl_context is not None:
            self._httpd.socket = ssl_context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.host = host
        self.port = self._httpd.server_address[1]
        self.scheme = "https" if ssl_context else "http"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- programming
    def route(self, path: str, reply: Route | None = None, **fields) -> None:
        """Serve ``reply`` (or ``Reply(**fields)``) at ``path`` (path + query, or "*")."""
        with self._lock:
            self._routes[path] = reply if reply is not None else Reply(**fields)

    def url(self, path: str = "/", host: str | None = None) -> str:
        h = host or self.host
        h = f"[{h}]" if ":" in h else h
        return f"{self.scheme}://{h}:{self.port}{path}"

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())

    # -- internals
    def _match(self, req: Request) -> Route:
        with self._lock:
            self.hits[req.path] += 1
            self.requests.append(req)
            path_only = req.path.split("?", 1)[0]
            return (
                self._routes.get(req.path)
                or self._routes.get(path_only)
                or self._routes.get("*", Reply(status=404, body=b"not found"))
            )

    def _accepted(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._live.add(sock)

    def close(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            live = list(self._live)
        for s in live:  # wake handlers blocked reading a kept-alive connection
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
