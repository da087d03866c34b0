"""The HTTP client: every byte the aggregator downloads comes through ``Fetcher.get``.

The wire work (HTTP/1.1 over a guarded socket) is ``aggregator.http11``; httpx parses and joins
URLs (``_Simple`` takes the plainest ones in one regex, to the same parts) and builds the certifi
TLS context. What this pair adds for fetching from strangers (see DESIGN.md "Pitfalls"):

* an egress guard at *connect* time (``http11.connect``): the host is resolved once, every
  answer is checked by ``aggregator.egress``, and the socket goes to exactly that checked
  address, so DNS rebinding and numeric spellings of 127.0.0.1 cannot slip through. Redirects are
  followed here, one hop at a time, so every hop goes through the same guard;
* a total deadline (``_Budget``): a per-read timeout alone lets a server dripping a byte a second
  run forever. Every socket operation — connect, TLS handshake, each header and body read — gets
  ``min(its timeout, time left)``, so a drip in the headers or the body meets the deadline; the
  body loop also checks between chunks (decoding is CPU the socket timeouts don't see);
* a cap on the *decoded* body: we read ``iter_raw()`` and inflate gzip/deflate/br ourselves in
  bounded steps, so a 1.6 KB brotli bomb never becomes 1 GiB in memory;
* per-host politeness (``aggregator.politeness.HostLimiter``) around each hop;
* keep-alive: a connection is reused only after a 304 or a body read to its end;
* one choke point (``_translate``) that turns every foreign exception into a ``FetchError``.

TLS is always verified (certifi by default); there is no insecure fallback. The one exception
is explicit: ``get(verify=False)`` for a feed whose operator set ``insecure_tls: true``.

Why not httpx's own transport (httpcore + h11): ≈ 1,600 Python calls and ≈ 2.2 ms CPU for one
157 KB page, four times the cost of the bytes (issue 7); see ``aggregator/http11.py``.
"""

from __future__ import annotations

import functools
import re
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Self

import brotli
import httpx

from aggregator import egress, http11
from aggregator.models import Response
from aggregator.politeness import HostLimiter, SlotTimeout
from aggregator.settings import Settings

KINDS = (
    "blocked",
    "timeout",
    "too_large",
    "http",
    "network",
    "tls",
    "bad_url",
    "redirects",
    "not_html",
)
_REDIRECTS = (301, 302, 303, 307, 308)
_STEP = 64 * 1024  # most decoded bytes produced by one decompressor call
_HEADERS_ABOUT_ENCODING = ("content-encoding", "content-length")  # untrue once body is decoded


class FetchError(Exception):
    """A fetch that did not produce a usable response. ``str(err)`` is ``"<kind>: <why>"``."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        url: str = "",
        status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        assert kind in KINDS, kind
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.url = url
        self.status = status
        self.retry_after = retry_after

    def __reduce__(self):  # keep kind/status when pickled (e.g. across a process pool)
        return (_rebuild_error, (self.kind, self.message, self.url, self.status, self.retry_after))


def _rebuild_error(kind, message, url, status, retry_after) -> FetchError:
    return FetchError(kind, message, url=url, status=status, retry_after=retry_after)


# --------------------------------------------------------------------------- deadline


class _Budget:
    """The deadline of one ``get``: every socket operation of every hop gets at most its rest."""

    def __init__(self, deadline: float, total: float) -> None:
        self.deadline = deadline
        self.total = total

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


# --------------------------------------------------------------------------- bounded decoding


def _inflate(chunks: Iterable[bytes], wbits: int | None) -> Iterator[bytes]:
    """zlib-family decoder yielding at most ~_STEP bytes per step.

    ``wbits=None`` is HTTP "deflate": meant to be zlib-wrapped, often sent raw; sniff the header.
    gzip may have several members back to back; each gets a fresh decompressor.
    """
    d = None
    head = b""
    for data in chunks:
        if wbits is None:  # need two bytes to tell zlib-wrapped from raw deflate
            head += data
            if len(head) < 2:
                continue
            cmf, flg = head[0], head[1]
            wbits = 15 if (cmf & 0x0F) == 8 and (cmf * 256 + flg) % 31 == 0 else -15
            data, head = head, b""
        while data:
            if d is None:
                d = zlib.decompressobj(wbits)
            out = d.decompress(data, _STEP)
            if out:
                yield out
            if d.eof:
                data, d = d.unused_data, None
                if wbits != 31:
                    return  # zlib/raw deflate: one stream; ignore trailing junk
                continue
            data = d.unconsumed_tail
            # Output capped with all input consumed: zlib may still hold output; drain it.
            while not data and len(out) == _STEP and not d.eof:
                out = d.decompress(b"", _STEP)
                if out:
                    yield out
                data = d.unconsumed_tail
    # A stream that ends early (a truncated gzip on a close-delimited response) is a broken
    # fetch, not a short feed: accepting it stored half a feed as a success and advanced the
    # validators (issue 6, case 9).
    if d is not None and not d.eof:
        raise _Decode("compressed body ends before its end-of-stream marker (truncated)")


def _unbrotli(chunks: Iterable[bytes]) -> Iterator[bytes]:
    d = brotli.Decompressor()
    fed = False
    for data in chunks:
        fed = fed or bool(data)
        # output_buffer_limit keeps one call from producing a GiB; then drain with empty input.
        # A call that filled its buffer (>= the limit) may have more pending. brotli 1.2's
        # can_accept_more_data() says True while output is still pending, so it alone would
        # silently truncate bodies (found by test_bodies_are_decoded[br]).
        out = d.process(data, output_buffer_limit=_STEP)
        if out:
            yield out
        while not d.is_finished() and (len(out) >= _STEP or not d.can_accept_more_data()):
            out = d.process(b"", output_buffer_limit=_STEP)
            if out:
                yield out
    if fed and not d.is_finished():
        raise _Decode("brotli body ends before its end-of-stream marker (truncated)")


_DECODERS = {
    "gzip": lambda s: _inflate(s, 31),
    "x-gzip": lambda s: _inflate(s, 31),
    "deflate": lambda s: _inflate(s, None),
    "br": _unbrotli,
}


def _decoding(raw: Iterable[bytes], content_encoding: str) -> Iterator[bytes]:
    """Chain decoders: "gzip, br" was gzipped first, so br is undone first."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    stream: Iterable[bytes] = raw
    for coding in reversed(codings):
        if coding not in _DECODERS:
            raise _Decode(f"unsupported content-encoding {coding!r}")
        stream = _DECODERS[coding](stream)
    return iter(stream)


class _Decode(Exception):
    """The body could not be decoded (unknown coding, corrupt data)."""


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _type_allowed(media: str, allowed: tuple[str, ...]) -> bool:
    for a in allowed:
        a = a.lower()
        if media == a or (a.endswith("/*") and media.startswith(a[:-1])):
            return True
    return False


# --------------------------------------------------------------------------- the fetcher


@functools.lru_cache(maxsize=1)
def _default_ssl_context() -> ssl.SSLContext:
    # Loading certifi's bundle costs ~0.15 s; contexts are safe to share between threads.
    return httpx.create_ssl_context(verify=True)


class Fetcher:
    """Thread-safe: one per process, shared by the daemon's pool."""

    def __init__(
        self,
        settings: Settings,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limiter: HostLimiter | None = None,
    ) -> None:
        self.settings = settings
        # ssl_context is for tests (a private CA) and operators with one; it still verifies.
        self._client = self._make_client(ssl_context or _default_ssl_context())
        self._insecure: http11.Client | None = None  # built for the first insecure_tls feed
        self._insecure_lock = threading.Lock()
        self._limiter = limiter or HostLimiter(settings.host_concurrency, settings.host_spacing)
        # What httpx.Client sent by default, with our agent and the codings we decode ourselves.
        self._headers = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate, br",
                         "Connection": "keep-alive", "User-Agent": settings.agent}

    def _make_client(self, ctx: ssl.SSLContext) -> http11.Client:
        # No proxy, no cookies, no auth: we follow redirects ourselves, and no proxy also means
        # no route around the egress guard (environment proxies are never read).
        return http11.Client(
            allow=tuple(self.settings.allow_networks),
            connect_timeout=self.settings.connect_timeout,
            ssl_context=ctx,
            max_idle=20,
            expiry=5.0,
        )

    def _unverified(self) -> http11.Client:
        """The client for feeds whose operator opted out of certificate checks (insecure_tls):
        same egress guard, deadline and caps; only the certificate is not verified."""
        with self._insecure_lock:
            if self._insecure is None:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                self._insecure = self._make_client(ctx)
            return self._insecure

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()
        if self._insecure is not None:
            self._insecure.close()

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
        max_bytes: int | None = None,
        allowed_types: tuple[str, ...] | None = None,
        verify: bool = True,
    ) -> Response:
        """``verify=False`` only for a feed whose operator set ``insecure_tls: true``."""
        s = self.settings
        client = self._client if verify else self._unverified()
        started = time.monotonic()
        budget = _Budget(started + s.fetch_deadline, s.fetch_deadline)
        cap = s.max_feed_bytes if max_bytes is None else max_bytes
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        try:
            for _hop in range(s.max_redirects + 1):
                target = _parse_url(current)
                with self._limiter.slot(target.host, budget.deadline):
                    resp = self._send(client, target, headers, budget)
                    try:
                        location = resp.headers.get("location")
                        if resp.status_code in _REDIRECTS and location:
                            current = str(target.join(location))
                            continue
                        return self._finish(resp, str(target), cap, allowed_types, budget, started)
                    finally:
                        resp.close()
            raise FetchError("redirects", f"more than {s.max_redirects} redirects", url=url)
        except FetchError:
            raise
        except Exception as exc:
            err = _translate(exc, current, budget)
            if err is None:
                raise
            raise err from exc

    def _send(self, client: http11.Client, target: httpx.URL | _Simple, headers: dict,
              budget: _Budget) -> http11.Response:
        """One request, its response head read; the body is read by ``_read_capped``."""
        host = target.raw_host.decode("ascii")
        port = target.port or (443 if target.scheme == "https" else 80)
        # Host first, as httpx sent it; netloc carries the port only when it is not the default.
        fields = {"Host": target.netloc.decode("ascii"), **self._headers, **headers}
        head = http11.request_head(target.raw_path.decode("ascii"), fields)
        return client.get(target.scheme, host, port, head, budget.deadline)

    def _finish(self, resp, url, cap, allowed_types, budget, started) -> Response:
        status = resp.status_code
        headers = dict(resp.headers)  # names already lower-cased by http11
        if status == 304:
            # A 304 has no body (RFC 9110 §15.4.5): its connection goes back to the pool, so an
            # unchanged poll costs no new connection (no TLS handshake on HTTPS).
            return Response(
                url=url, status=304, headers=headers, body=b"", elapsed=time.monotonic() - started
            )
        if not 200 <= status < 300:
            raise _http_error(status, resp, url)
        if allowed_types is not None:
            media = _media_type(headers.get("content-type", ""))
            if not _type_allowed(media, allowed_types):
                raise FetchError(
                    "not_html",
                    f"content-type {media or '(none)'} is not one of {', '.join(allowed_types)}",
                    url=url,
                )
        body = _read_capped(resp, headers, cap, budget, url)
        for name in _HEADERS_ABOUT_ENCODING:
            headers.pop(name, None)
        return Response(
            url=url, status=status, headers=headers, body=body, elapsed=time.monotonic() - started
        )


def _parse_url(url: str) -> httpx.URL | _Simple:
    simple = _Simple.parse(url) if isinstance(url, str) else None
    if simple is not None:
        return simple
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError("bad_url", f"cannot parse {url!r}: {exc}", url=str(url)) from exc
    if target.scheme not in ("http", "https"):
        raise FetchError(
            "bad_url", f"scheme {target.scheme or '(none)'!r} is not http or https: {url}", url=url
        )
    if not target.host:
        raise FetchError("bad_url", f"no host in {url}", url=url)
    return target


# The plainest URLs: lower-case http(s), a lower-case name or dotted quad, a port, a path and
# query of characters httpx.URL leaves as they are, no userinfo, no fragment.
_PCHARS = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*"
_SIMPLE_URL = re.compile(
    rf"(https?)://([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::([1-9][0-9]{{0,4}}))?"
    rf"(/{_PCHARS}(?:\?(?:{_PCHARS}|\?)*)?)"
)
_DEFAULT_PORT = {"http": 80, "https": 443}
_QUAD = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                   r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")


class _Simple:
    """A URL parsed by one regex into exactly the parts ``httpx.URL`` gives it (the tests compare
    both on a corpus). httpx.URL scans the string character by character in Python: ≈ 0.17 ms of
    the ≈ 1 ms a page fetch cost in the ingest (issue 7). Anything not plainly simple — upper
    case, IDNA, IPv6, odd numeric hosts (``0x7f.1``, ``2130706433``), dot segments, a fragment,
    characters httpx would percent-encode — returns None and goes to httpx.URL."""

    __slots__ = ("scheme", "host", "port", "raw_path")

    def __init__(self, scheme: str, host: str, port: int | None, raw_path: bytes) -> None:
        self.scheme, self.host, self.port, self.raw_path = scheme, host, port, raw_path

    @classmethod
    def parse(cls, url: str) -> _Simple | None:
        m = _SIMPLE_URL.fullmatch(url)
        if m is None:
            return None
        scheme, host, port, path = m.groups()
        numeric = host.rsplit(".", 1)[-1][0].isdigit()  # no top-level domain starts with one
        if ".." in host or (numeric and not _QUAD.fullmatch(host)):
            return None  # 127.1, 2130706433, 0x7f.1, 0177.0.0.1 ...: httpx's (and egress's) call
        if "/." in path.split("?", 1)[0]:  # "." and ".." segments: httpx removes them
            return None
        number = int(port) if port else None
        if number is not None and number > 65535:
            return None
        if number == _DEFAULT_PORT[scheme]:
            number = None
        return cls(scheme, host, number, path.encode("ascii"))

    @property
    def raw_host(self) -> bytes:
        return self.host.encode("ascii")

    @property
    def netloc(self) -> bytes:
        return (self.host if self.port is None else f"{self.host}:{self.port}").encode("ascii")

    def join(self, location: str) -> httpx.URL:
        return httpx.URL(str(self)).join(location)  # redirects: rare, and httpx knows RFC 3986

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc.decode('ascii')}{self.raw_path.decode('ascii')}"


def _http_error(status: int, resp: http11.Response, url: str) -> FetchError:
    retry_after = resp.headers.get("retry-after")
    why = {
        401: "the site wants credentials (some outlets answer 401 to bots)",
        403: "forbidden: the site refuses this client (some outlets block unknown agents)",
        404: "not found",
        410: "gone for good",
        429: "rate limited: too many requests",
        503: "service unavailable",
    }.get(status, resp.reason_phrase or "unexpected status")
    if status in _REDIRECTS:
        why = "redirect without a Location header"
    if retry_after:
        why += f"; retry after {retry_after}"
    return FetchError(
        "http", f"{status} {why} ({url})", url=url, status=status, retry_after=retry_after
    )


def _read_capped(resp: http11.Response, headers: dict, cap: int, budget: _Budget, url: str) -> bytes:
    encoding = headers.get("content-encoding", "")
    # Compressed bytes can't sensibly exceed the decoded cap by much; bound them too, so a body
    # that decodes to nothing (endless empty deflate blocks) still stops.
    raw_cap = 2 * cap + 64 * 1024
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > (raw_cap if encoding else cap):
        raise FetchError(
            "too_large", f"Content-Length {declared} exceeds the {cap}-byte cap", url=url
        )

    def raw() -> Iterator[bytes]:
        seen = 0
        for chunk in resp.iter_raw():
            seen += len(chunk)
            if seen > raw_cap:
                raise FetchError(
                    "too_large", f"more than {raw_cap} bytes on the wire (cap {cap})", url=url
                )
            yield chunk

    # Pieces joined once at the end: a bytearray grown piece by piece and then copied into bytes
    # copied a 170 KB page twice more than needed (issue 7).
    pieces: list[bytes] = []
    size = 0
    for piece in _decoding(raw(), encoding):
        size += len(piece)
        if size > cap:
            raise FetchError("too_large", f"body exceeds the {cap}-byte cap once decoded", url=url)
        pieces.append(piece)
        if budget.remaining() <= 0:  # decoding is CPU time the socket timeouts don't see
            raise FetchError("timeout", f"no complete response within {budget.total:g}s", url=url)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ssl.SSLError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _translate(exc: Exception, url: str, budget: _Budget) -> FetchError | None:
    """The one place foreign exceptions become FetchError; None means "a bug: let it raise"."""
    try:
        host = httpx.URL(url).host
    except Exception:  # noqa: BLE001 - only for the message
        host = url
    if isinstance(exc, egress.EgressBlocked):
        return FetchError("blocked", str(exc), url=url)
    if isinstance(exc, SlotTimeout):
        return FetchError("timeout", str(exc), url=url)
    wire = (OSError, http11.RemoteProtocolError)  # sockets; the peer breaking HTTP/1.1
    if isinstance(exc, TimeoutError) or (isinstance(exc, wire) and budget.remaining() <= 0):
        return FetchError(
            "timeout", f"no complete response from {host} within {budget.total:g}s", url=url
        )
    if isinstance(exc, httpx.InvalidURL):  # e.g. a Location httpx cannot join (octal host)
        return FetchError("bad_url", f"{exc} ({url})", url=url)
    tls = _ssl_cause(exc)
    if tls is not None:
        detail = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or str(tls)
        return FetchError("tls", f"TLS with {host} failed: {detail}", url=url)
    if isinstance(exc, egress.ResolveError):
        return FetchError("network", str(exc), url=url)
    if isinstance(exc, _Decode | zlib.error | brotli.error):
        return FetchError("network", f"undecodable body from {host}: {exc}", url=url)
    if isinstance(exc, wire):
        return FetchError("network", f"{type(exc).__name__} talking to {host}: {exc}", url=url)
    return None


__all__ = ["KINDS", "FetchError", "Fetcher"]
