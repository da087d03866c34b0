"""A lean HTTP/1.1 client for ``aggregator.fetch``: GET over a guarded socket, a response reader.

Why not httpx's transport: httpx → httpcore → h11 spent about 1,600 Python calls (≈ 2.2 ms CPU)
on one 157 KB page, about four times what the bytes need (issue 7). This module does only what
the fetcher uses — a GET with a few headers, a status line, headers, a body framed by
Content-Length, chunked transfer coding or the end of the connection — with the same safety:

* ``connect`` resolves through ``aggregator.egress.resolve_checked`` and connects a socket to
  exactly the checked address (no second lookup: no DNS rebinding);
* every socket operation gets ``min(its own timeout, time left before the deadline)``: the
  timeout is set again before each connect, handshake, send and read, so a server dripping its
  headers or body a byte a second runs into the deadline, not into a fresh per-read timeout;
* TLS verifies the certificate against the URL's host (SNI + hostname check), not the IP;
* the response head is capped (``MAX_HEAD``) and parsed strictly enough to refuse what h11
  refused (control bytes, bad names, conflicting lengths, transfer codings other than chunked);
* a connection goes back to the ``Pool`` only after its response was read to the end and both
  sides allow keep-alive; anything else (partial read, ``Connection: close``, HTTP/1.0, a body
  delimited by close, bytes past the message) closes it. Idle connections expire.

Errors: ``RemoteProtocolError`` (the peer broke HTTP/1.1 or hung up mid-message), ``OSError``
and ``TimeoutError`` from sockets, ``ssl.SSLError`` from TLS, ``egress`` errors from the guard.
``aggregator.fetch._translate`` turns them into ``FetchError``.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator

from aggregator import egress

MAX_HEAD = 100 * 1024  # what httpcore allowed h11 to buffer for one response head
READ_SIZE = 64 * 1024  # bytes asked of one recv (measured: larger reads cost more than they save)
MAX_INFORMATIONAL = 10  # 1xx answers skipped before the real one (103 Early Hints is real)

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([0-9]{3})(?: ([^\r\n]*))?")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")  # in a head with \r\n folded to \n
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_OWS = " \t"  # optional whitespace around field values
_NO_BODY = (204, 304)
_STALE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class RemoteProtocolError(Exception):
    """The server broke HTTP/1.1 or closed the connection in the middle of a message."""


class _NoResponse(RemoteProtocolError):
    """The connection closed before the first byte of a response (a stale kept-alive socket)."""


# --------------------------------------------------------------------------- one connection


def _left(deadline: float, limit: float | None = None) -> float:
    """Seconds the next socket operation may take; TimeoutError once the deadline has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("fetch deadline passed")
    return left if limit is None else min(limit, left)


class Connection:
    """One socket to one origin plus the bytes read past the last message (``buf``).

    The socket timeout is set again before every send and read, to the time left: a timeout
    set once would be a fresh allowance per read. (A non-blocking socket waited on with poll
    saves that ioctl per read; measured in the same run, 4 threads and a busy neighbour thread,
    it made no difference to the CPU per fetch, so the simpler form stayed.)
    """

    def __init__(self, sock: socket.socket, key: tuple) -> None:
        self.sock = sock
        self.key = key
        self.buf = b""
        self.idle_since = 0.0

    def send(self, data: bytes, deadline: float) -> None:
        self.sock.settimeout(_left(deadline))
        self.sock.sendall(data)

    def recv(self, deadline: float, size: int = READ_SIZE) -> bytes:
        self.sock.settimeout(_left(deadline))  # again before every read: the deadline is total
        return self.sock.recv(size)

    def dead(self) -> bool:
        """True if an idle connection has something to read: the server closed it (EOF) or
        sent bytes nobody asked for (a "408 Request Timeout"). Either way it cannot carry the
        next request: its first bytes would be taken for the answer."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        try:
            poller = select.poll()  # not select.select: it fails on descriptors above 1023
            poller.register(self.sock, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def connect(host: str, port: int, allow: tuple, connect_timeout: float, deadline: float,
            ssl_context: ssl.SSLContext | None) -> socket.socket:
    """Resolve once, check every answer, connect to a checked address, then TLS if asked."""
    limit = _left(deadline, connect_timeout)
    started = time.monotonic()
    targets = egress.resolve_checked(host, port, allow, limit)
    last: OSError | None = None
    for target in targets:
        left = limit - (time.monotonic() - started)
        if left <= 0:
            raise TimeoutError(f"connect to {host} timed out")
        sock = socket.socket(target.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(left)
            sock.connect(target.sockaddr)  # the checked sockaddr itself: no lookup happens here
        except TimeoutError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            last = exc  # try the next address (dual-stack hosts)
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is None:
            return sock
        return _start_tls(sock, host, ssl_context, connect_timeout, deadline)
    assert last is not None
    raise last


def _start_tls(sock: socket.socket, host: str, ctx: ssl.SSLContext, connect_timeout: float,
               deadline: float) -> ssl.SSLSocket:
    tls = None
    try:
        # server_hostname is the URL's host, so SNI and the certificate check use the name the
        # user asked for, not the IP we connected to.
        tls = ctx.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
        tls.settimeout(_left(deadline, connect_timeout))
        tls.do_handshake()
    except BaseException:
        sock.close()
        if tls is not None:
            tls.close()  # wrap_socket took the descriptor over: closing sock alone leaks it
        raise
    return tls


# --------------------------------------------------------------------------- the pool


class Pool:
    """Idle kept-alive connections, at most ``max_idle`` of them, each for ``expiry`` seconds."""

    def __init__(self, max_idle: int = 20, expiry: float = 5.0) -> None:
        self.max_idle = max_idle
        self.expiry = expiry
        self._idle: list[Connection] = []  # oldest first
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, key: tuple) -> Connection | None:
        """The most recently used idle connection to ``key`` (the least likely to have been
        closed by the server), after dropping every expired one."""
        now = time.monotonic()
        found = None
        with self._lock:
            stale = [c for c in self._idle if now - c.idle_since > self.expiry]
            if stale:
                self._idle = [c for c in self._idle if now - c.idle_since <= self.expiry]
            for i in range(len(self._idle) - 1, -1, -1):
                if self._idle[i].key == key:
                    found = self._idle.pop(i)
                    break
        for conn in stale:
            conn.close()
        if found is not None and found.dead():
            found.close()
            found = None
        return found

    def release(self, conn: Connection) -> None:
        conn.idle_since = time.monotonic()
        evicted = None
        with self._lock:
            if self._closed:
                evicted = conn
            else:
                self._idle.append(conn)
                if len(self._idle) > self.max_idle:
                    evicted = self._idle.pop(0)
        if evicted is not None:
            evicted.close()

    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


# --------------------------------------------------------------------------- the response


class Response:
    """A response whose head has been read; the body is read on demand by ``iter_raw``.

    ``headers`` maps lower-cased names to values; repeated fields are joined with ", " (what
    ``httpx.Headers.items()`` gave). ``close`` returns the connection to the pool only if the
    body was read to its end and the connection may be kept alive.
    """

    def __init__(self, conn: Connection, pool: Pool, status: int, reason: str,
                 headers: dict[str, str], body: Iterator[bytes] | None, keep_alive: bool) -> None:
        self.status_code = status
        self.reason_phrase = reason
        self.headers = headers
        self._conn: Connection | None = conn
        self._pool = pool
        self._body = body
        self._complete = body is None
        self._keep_alive = keep_alive

    def iter_raw(self) -> Iterator[bytes]:
        """The body as it came off the wire (after de-chunking, before content decoding)."""
        if self._body is not None:
            body, self._body = self._body, None
            yield from body
            self._complete = True

    def read(self) -> bytes:
        return b"".join(self.iter_raw())

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._complete and self._keep_alive and not conn.buf:
            self._pool.release(conn)
        else:
            conn.close()


# --------------------------------------------------------------------------- the client


class Client:
    """GETs over guarded connections, with one keep-alive pool. Thread-safe."""

    def __init__(self, *, allow: tuple, connect_timeout: float, ssl_context: ssl.SSLContext,
                 max_idle: int = 20, expiry: float = 5.0) -> None:
        self.allow = allow
        self.connect_timeout = connect_timeout
        self.ssl_context = ssl_context
        ssl_context.set_alpn_protocols(["http/1.1"])  # what httpcore announced; we speak nothing else
        self.pool = Pool(max_idle, expiry)

    def get(self, scheme: str, host: str, port: int, head: bytes, deadline: float) -> Response:
        """Send ``head`` (a complete GET request head) to the origin; return the response head.

        A kept-alive connection the server closed while idle fails on its first use with no
        response at all; the request then goes once more over a fresh connection (a GET that
        got no answer is safe to repeat).
        """
        key = (scheme, host, port)
        conn = self.pool.acquire(key)
        if conn is not None:
            try:
                return self._exchange(conn, head, deadline)
            except (_NoResponse, *_STALE):
                conn.close()  # closed by the server while idle: try once on a fresh one
            except BaseException:
                conn.close()
                raise
        conn = self._open(key, deadline)
        try:
            return self._exchange(conn, head, deadline)
        except BaseException:
            conn.close()
            raise

    def _open(self, key: tuple, deadline: float) -> Connection:
        scheme, host, port = key
        ctx = self.ssl_context if scheme == "https" else None
        sock = connect(host, port, self.allow, self.connect_timeout, deadline, ctx)
        return Connection(sock, key)

    def _exchange(self, conn: Connection, head: bytes, deadline: float) -> Response:
        conn.send(head, deadline)
        for _ in range(MAX_INFORMATIONAL + 1):
            version, status, reason, headers = read_head(conn, deadline)
            if status >= 200:
                return _response(conn, self.pool, version, status, reason, headers, deadline)
            if status == 101:
                raise RemoteProtocolError("server switched protocols on a plain GET")
        raise RemoteProtocolError(f"more than {MAX_INFORMATIONAL} informational responses")

    def close(self) -> None:
        self.pool.close()


def request_head(target: str, headers: dict[str, str]) -> bytes:
    """``GET target HTTP/1.1`` and the fields, refusing values that would split the head."""
    lines = [f"GET {target} HTTP/1.1"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\x00" in value:  # e.g. a hostile stored ETag
            raise RemoteProtocolError(f"illegal {name} header value {value!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    text = "\r\n".join(lines)
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        return text.encode("utf-8")


# --------------------------------------------------------------------------- reading a response


def read_head(conn: Connection, deadline: float) -> tuple[int, int, str, dict[str, str]]:
    """Read and parse one response head: (minor version, status, reason, headers)."""
    data = conn.buf
    if not data:  # the usual case: one read brings the whole head and the start of the body
        data = conn.recv(deadline)
        if not data:
            raise _NoResponse("Server disconnected without sending a response.")
    match = _HEAD_END.search(data)
    if match is None:
        buf = bytearray(data)  # grows in place: a dripped head costs O(n), not O(n^2)
        while match is None:
            if len(buf) > MAX_HEAD:
                raise RemoteProtocolError(f"response head larger than {MAX_HEAD} bytes")
            more = conn.recv(deadline)
            if not more:
                if not buf:
                    raise _NoResponse("Server disconnected without sending a response.")
                raise RemoteProtocolError("peer closed connection in the middle of the headers")
            start = max(0, len(buf) - 3)
            buf += more
            match = _HEAD_END.search(buf, start)
        data = bytes(buf)
    if match.start() > MAX_HEAD:
        raise RemoteProtocolError(f"response head larger than {MAX_HEAD} bytes")
    conn.buf = data[match.end():]
    return _parse_head(data[: match.start()])


def _parse_head(head: bytes) -> tuple[int, int, str, dict[str, str]]:
    head = head.replace(b"\r\n", b"\n")
    if _CONTROL.search(head):
        raise RemoteProtocolError("control character in the response head")
    status_line, _, fields = head.partition(b"\n")
    m = _STATUS_LINE.fullmatch(status_line)
    if m is None:
        raise RemoteProtocolError(f"bad status line {status_line[:80]!r}")
    reason = (m.group(3) or b"").decode("latin-1")
    return int(m.group(1)), int(m.group(2)), reason, _parse_fields(fields)


def _parse_fields(raw: bytes) -> dict[str, str]:
    # One encoding for the whole head, like httpx.Headers: ascii, else utf-8, else latin-1.
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    headers: dict[str, str] = {}
    name = ""
    for line in text.split("\n") if text else ():
        if line[:1] in (" ", "\t"):  # obsolete line folding: continues the previous value
            if not name:
                raise RemoteProtocolError("continuation line before the first header")
            headers[name] = f"{headers[name]} {line.strip(_OWS)}"
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise RemoteProtocolError(f"malformed header line {line[:80]!r}")
        name = name.lower()
        value = value.strip(_OWS)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _response(conn: Connection, pool: Pool, version: int, status: int, reason: str,
              headers: dict[str, str], deadline: float) -> Response:
    """Decide the body's framing (RFC 9112 §6.3, as h11 does) and whether the connection may
    carry another request afterwards."""
    keep_alive = version >= 1 and "close" not in _tokens(headers.get("connection", ""))
    if status in _NO_BODY:  # no body whatever the headers say (RFC 9110 §6.4.1)
        return Response(conn, pool, status, reason, headers, None, keep_alive)
    codings = _tokens(headers.get("transfer-encoding", ""))
    if codings:
        if codings != ["chunked"]:
            raise RemoteProtocolError(f"unsupported Transfer-Encoding {codings}")
        body = _chunked(conn, deadline)
        if "content-length" in headers:  # both framings: a smuggling attempt or a broken proxy
            keep_alive = False
    elif "content-length" in headers:
        length = _content_length(headers["content-length"])
        if length == 0:
            return Response(conn, pool, status, reason, headers, None, keep_alive)
        body = _sized(conn, length, deadline)
    else:
        body, keep_alive = _until_close(conn, deadline), False
    return Response(conn, pool, status, reason, headers, body, keep_alive)


def _tokens(value: str) -> list[str]:
    return [t.strip().lower() for t in value.split(",") if t.strip()]


def _content_length(value: str) -> int:
    values = {v.strip() for v in value.split(",")}  # repeated fields were joined with ", "
    if len(values) != 1:
        raise RemoteProtocolError(f"conflicting Content-Length values {value!r}")
    (only,) = values
    # At most 20 digits, as h11: int() of a 5,000-digit string raises ValueError (a bug, not a
    # FetchError) and no real body is longer than 10**20 bytes.
    if not only.isascii() or not only.isdigit() or len(only) > 20:
        raise RemoteProtocolError(f"bad Content-Length {value!r}")
    return int(only)


def _sized(conn: Connection, length: int, deadline: float) -> Iterator[bytes]:
    received = 0
    if conn.buf:
        first, conn.buf = conn.buf[:length], conn.buf[length:]
        received, length = len(first), length - len(first)
        yield first
    while length > 0:
        # Never ask for more than the message: what follows belongs to nobody (see close()).
        chunk = conn.recv(deadline, min(length, READ_SIZE))
        if not chunk:
            raise RemoteProtocolError(
                "peer closed connection without sending complete message body: "
                f"received {received} bytes, expected {received + length}"
            )
        received += len(chunk)
        length -= len(chunk)
        yield chunk


def _until_close(conn: Connection, deadline: float) -> Iterator[bytes]:
    if conn.buf:
        first, conn.buf = conn.buf, b""
        yield first
    while chunk := conn.recv(deadline):
        yield chunk


def _chunked(conn: Connection, deadline: float) -> Iterator[bytes]:
    """De-chunk: ``size[;ext]\\r\\n data \\r\\n`` ... ``0\\r\\n`` trailers ``\\r\\n``."""
    reader = _Lines(conn, deadline)
    while True:
        line = reader.line()
        size_field = line.split(b";", 1)[0].strip(b" \t")
        if not _HEX.fullmatch(size_field):
            raise RemoteProtocolError(f"bad chunk size line {line[:40]!r}")
        size = int(size_field, 16)
        if size == 0:
            break
        yield from reader.exactly(size)
        if reader.line():
            raise RemoteProtocolError("chunk data longer than its declared size")
    while reader.line():  # trailer fields: read and dropped
        pass
    conn.buf = reader.rest()


class _Lines:
    """Line and fixed-size reads over a connection's buffer, for the chunked framing."""

    def __init__(self, conn: Connection, deadline: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self.data, conn.buf = conn.buf, b""
        self.pos = 0

    def _more(self) -> None:
        chunk = self.conn.recv(self.deadline)
        if not chunk:
            raise RemoteProtocolError(
                "peer closed connection without sending complete message body: "
                "incomplete chunked read"
            )
        self.data = self.data[self.pos:] + chunk
        self.pos = 0

    def line(self) -> bytes:
        while (end := self.data.find(b"\n", self.pos)) < 0:
            if len(self.data) - self.pos > 4096:
                raise RemoteProtocolError("chunk size or trailer line too long")
            self._more()
        line = self.data[self.pos:end]
        self.pos = end + 1
        return line[:-1] if line.endswith(b"\r") else line

    def exactly(self, size: int) -> Iterator[bytes]:
        while size > 0:
            if self.pos >= len(self.data):
                self._more()
            piece = self.data[self.pos:self.pos + size]
            self.pos += len(piece)
            size -= len(piece)
            yield piece

    def rest(self) -> bytes:
        return self.data[self.pos:]
