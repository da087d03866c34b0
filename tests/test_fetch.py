"""Fetcher against real loopback servers: egress, deadline, decoded cap, types, statuses, TLS.

Addresses: the servers under test listen on 127.0.0.2 (allow-listed by these settings); the
canary listens on 127.0.0.3 (not allow-listed) and must never see a connection.
"""

from __future__ import annotations

import gzip
import ipaddress
import itertools
import json
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
import zlib
from functools import cache
from pathlib import Path

import brotli
import pytest

from aggregator import egress
from aggregator.fetch import Fetcher, FetchError
from aggregator.settings import Settings

try:
    from tests.servers import Reply, Server, redirect
except ImportError:  # pytest's rootdir-relative import without tests/__init__.py
    from servers import Reply, Server, redirect

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = "127.0.0.2"
CANARY = "127.0.0.3"
DEADLINE = 1.5


def make_settings(**kw) -> Settings:
    base = {
        "allow_networks": (ipaddress.ip_network(f"{ALLOWED}/32"),),
        "fetch_deadline": 5.0,
        "connect_timeout": 2.0,
        "host_spacing": 0.0,
        "host_concurrency": 4,
    }
    base.update(kw)
    return Settings(**base)


@pytest.fixture
def srv():
    with Server(ALLOWED) as s:
        yield s


@pytest.fixture
def canary():
    with Server(CANARY) as s:
        s.route("*", Reply(body=b"canary"))
        yield s


@pytest.fixture
def fetcher():
    with Fetcher(make_settings()) as f:
        yield f


def fetch_error(fetcher: Fetcher, url: str, **kw) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetcher.get(url, **kw)
    err = info.value
    assert str(err).startswith(err.kind + ": ") and "\n" not in str(err)
    return err


# ---------------------------------------------------------------- basics and headers


def test_plain_fetch_returns_body_headers_final_url(srv, fetcher):
    srv.route(
        "/feed",
        Reply(body=b"<rss/>", headers={"Content-Type": "application/rss+xml", "ETag": '"v1"'}),
    )
    r = fetcher.get(srv.url("/feed"), accept="application/rss+xml")
    assert (r.status, r.body, r.url) == (200, b"<rss/>", srv.url("/feed"))
    assert r.headers["content-type"] == "application/rss+xml" and r.headers["etag"] == '"v1"'
    assert r.elapsed > 0 and not r.not_modified
    sent = srv.requests[0].headers
    assert sent["user-agent"] == make_settings().agent
    assert sent["accept-encoding"] == "gzip, deflate, br"
    assert sent["accept"] == "application/rss+xml"
    assert "if-none-match" not in sent and "cookie" not in sent


def test_conditional_get_sends_validators_and_returns_304(srv, fetcher):
    def route(req):
        if req.headers.get("if-none-match") == '"v1"' and req.headers.get("if-modified-since"):
            return Reply(status=304, headers={"ETag": '"v1"'})
        return Reply(body=b"full")

    srv.route("/feed", route)
    r = fetcher.get(srv.url("/feed"), etag='"v1"', last_modified="Wed, 21 Oct 2015 07:28:00 GMT")
    assert r.status == 304 and r.not_modified and r.body == b"" and r.headers["etag"] == '"v1"'
    assert srv.requests[0].headers["if-modified-since"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert fetcher.get(srv.url("/feed")).body == b"full"


def test_cookies_are_not_carried_between_requests(srv, fetcher):
    srv.route("/a", Reply(body=b"a", headers={"Set-Cookie": "track=1; Path=/"}))
    fetcher.get(srv.url("/a"))
    fetcher.get(srv.url("/a"))
    assert "cookie" not in srv.requests[1].headers


# ---------------------------------------------------------------- egress guard


@pytest.mark.parametrize(
    "spelling",
    [
        CANARY,
        "2130706435",
        "0x7f.0.0.3",
        "0x7f.3",
        "127.3",
        "017700000003",
        "0x7f000003",
        "[::ffff:127.0.0.3]",
        "[::ffff:7f00:3]",
        "localhost",
    ],
)
def test_forbidden_targets_never_reach_the_canary(canary, fetcher, spelling):
    err = fetch_error(fetcher, f"http://{spelling}:{canary.port}/")
    assert err.kind == "blocked", err
    assert canary.connections == 0 and canary.total_hits == 0


def test_octal_spelling_is_refused_before_any_connection(canary, fetcher):
    # httpx rejects 0177.0.0.3 itself (bad_url); egress tests cover what getaddrinfo makes of it.
    err = fetch_error(fetcher, f"http://0177.0.0.3:{canary.port}/")
    assert err.kind in ("bad_url", "blocked") and canary.connections == 0


def test_blocked_message_names_address_and_reason(fetcher):
    err = fetch_error(fetcher, "http://10.0.0.5/feed")
    assert str(err) == "blocked: 10.0.0.5 is a private address"
    assert fetch_error(fetcher, "http://169.254.169.254/latest/meta-data/").message.endswith(
        "cloud metadata address"
    )


@pytest.mark.parametrize("spelling", [CANARY, "2130706435", "[::ffff:127.0.0.3]"])
def test_redirect_to_a_forbidden_address_is_blocked_at_that_hop(srv, canary, fetcher, spelling):
    srv.route("/feed", redirect(f"http://{spelling}:{canary.port}/internal", 302))
    err = fetch_error(fetcher, srv.url("/feed"))
    assert err.kind == "blocked" and srv.hits["/feed"] == 1
    assert canary.connections == 0


def test_redirects_are_followed_and_counted(srv):
    srv.route("/a", redirect("/b", 301))
    srv.route("/b", redirect(srv.url("/c"), 308))
    srv.route("/c", Reply(body=b"done"))
    with Fetcher(make_settings(max_redirects=2)) as f:
        r = f.get(srv.url("/a"))
        assert (r.url, r.body) == (srv.url("/c"), b"done")
    srv.route("/loop", redirect("/loop"))
    with Fetcher(make_settings(max_redirects=3)) as f:
        err = fetch_error(f, srv.url("/loop"))
    assert err.kind == "redirects" and srv.hits["/loop"] == 4  # the first request + 3 redirects


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.2/x",
        "gopher://127.0.0.2/",
        "/relative",
        "http:///nohost",
    ],
)
def test_non_http_urls_are_bad(fetcher, url):
    assert fetch_error(fetcher, url).kind == "bad_url"


def test_redirect_to_another_scheme_is_refused(srv, fetcher):
    srv.route("/feed", redirect("file:///etc/passwd"))
    assert fetch_error(fetcher, srv.url("/feed")).kind == "bad_url"


def _fake_dns(monkeypatch, answers: dict[str, list[list[str]]]) -> dict[str, int]:
    """getaddrinfo that answers names from ``answers`` (one list per successive lookup)."""
    real = socket.getaddrinfo
    calls: dict[str, int] = {}

    def fake(host, port, *a, **kw):
        if host not in answers:
            return real(host, port, *a, **kw)  # IP literals, as create_connection passes
        n = calls[host] = calls.get(host, 0) + 1
        ips = answers[host][min(n, len(answers[host])) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (i, port)) for i in ips]

    monkeypatch.setattr(egress.socket, "getaddrinfo", fake)
    return calls


def test_dns_rebinding_cannot_switch_the_address_after_the_check(srv, canary, fetcher, monkeypatch):
    # First answer allowed, every later one the canary: we must connect where we checked.
    calls = _fake_dns(monkeypatch, {"rebind.test": [[ALLOWED], [CANARY]]})
    srv.route("/", Reply(body=b"real"))
    canary.port  # noqa: B018 - the canary listens on its own port; point the name's port at srv
    r = fetcher.get(f"http://rebind.test:{srv.port}/")
    assert r.body == b"real" and calls["rebind.test"] == 1
    assert canary.connections == 0


def test_a_name_with_any_forbidden_answer_is_blocked(srv, canary, fetcher, monkeypatch):
    _fake_dns(monkeypatch, {"mixed.test": [[ALLOWED, CANARY]]})
    err = fetch_error(fetcher, f"http://mixed.test:{srv.port}/")
    assert err.kind == "blocked" and "mixed.test resolves to 127.0.0.3" in str(err)
    assert srv.connections == 0 and canary.connections == 0


def test_proxy_environment_is_ignored(srv, canary, monkeypatch):
    # An env proxy would receive every request and connect anywhere, bypassing the guard.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(var, f"http://{CANARY}:{canary.port}")
    srv.route("/", Reply(body=b"direct"))
    with Fetcher(make_settings()) as f:
        assert f.get(srv.url("/")).body == b"direct"
    assert canary.connections == 0


def test_connection_refused_is_network(fetcher):
    s = socket.socket()
    s.bind((ALLOWED, 0))
    port = s.getsockname()[1]
    s.close()
    err = fetch_error(fetcher, f"http://{ALLOWED}:{port}/")
    assert err.kind == "network"


# ---------------------------------------------------------------- total deadline


def _deadline_case(url: str, monkeypatch=None) -> tuple[FetchError, float]:
    with Fetcher(make_settings(fetch_deadline=DEADLINE)) as f:
        t0 = time.monotonic()
        with pytest.raises(FetchError) as info:
            f.get(url)
        took = time.monotonic() - t0
    print(f"deadline {DEADLINE}s, took {took:.3f}s (overshoot {took - DEADLINE:+.3f}s)")
    assert info.value.kind == "timeout", info.value
    assert DEADLINE - 0.05 <= took <= DEADLINE + 1.0
    return info.value, took


@pytest.mark.hostile
def test_deadline_cuts_a_body_drip(srv):
    srv.route("/drip", Reply(body=b"x" * 100, drip=0.1))  # 10 s of body, a byte per read
    _deadline_case(srv.url("/drip"))


@pytest.mark.hostile
def test_deadline_cuts_a_header_drip(srv):
    srv.route("/drip", Reply(body=b"x", header_drip=0.1, headers={"X-Pad": "y" * 50}))
    _deadline_case(srv.url("/drip"))


@pytest.mark.hostile
def test_deadline_cuts_a_server_that_never_answers(srv):
    srv.route("/hang", Reply(hang=True))
    _deadline_case(srv.url("/hang"))


@pytest.mark.hostile
def test_deadline_covers_dns(monkeypatch):
    release = threading.Event()
    real = socket.getaddrinfo

    def slow(host, *a, **kw):
        if host == "slow.test":
            release.wait(10)
        return real(host, *a, **kw)

    monkeypatch.setattr(egress.socket, "getaddrinfo", slow)
    try:
        _deadline_case("http://slow.test/")
    finally:
        release.set()


# ---------------------------------------------------------------- decoded body cap


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data)


def _zlib(data: bytes) -> bytes:
    return zlib.compress(data)


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush()


PAYLOAD = b"<rss>" + b"news item " * 20000 + b"</rss>"


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", _gzip),
        ("x-gzip", _gzip),
        ("deflate", _zlib),
        ("deflate", _raw_deflate),
        ("br", brotli.compress),
        ("gzip, br", lambda d: brotli.compress(_gzip(d))),
        ("br, gzip", lambda d: _gzip(brotli.compress(d))),
        ("identity", lambda d: d),
        ("gzip", lambda d: _gzip(d[:1000]) + _gzip(d[1000:])),  # two gzip members
    ],
)
def test_bodies_are_decoded(srv, fetcher, encoding, encode):
    srv.route("/f", Reply(body=encode(PAYLOAD), headers={"Content-Encoding": encoding}))
    r = fetcher.get(srv.url("/f"))
    assert r.body == PAYLOAD
    assert "content-encoding" not in r.headers  # the body we return is not encoded any more


def test_chunked_and_close_delimited_bodies(srv, fetcher):
    srv.route("/c", Reply(body=_gzip(PAYLOAD), chunked=True, headers={"Content-Encoding": "gzip"}))
    srv.route("/e", Reply(body=PAYLOAD, content_length=False))
    assert fetcher.get(srv.url("/c")).body == PAYLOAD
    assert fetcher.get(srv.url("/e")).body == PAYLOAD


def test_cap_is_exact_on_decoded_size(srv, fetcher):
    srv.route("/f", Reply(body=_gzip(b"a" * 1000), headers={"Content-Encoding": "gzip"}))
    assert len(fetcher.get(srv.url("/f"), max_bytes=1000).body) == 1000
    err = fetch_error(fetcher, srv.url("/f"), max_bytes=999)
    assert err.kind == "too_large"


def test_declared_length_over_cap_is_refused_before_reading(srv, fetcher):
    srv.route("/big", Reply(body=b"x" * 5000, drip=1.0, drip_size=1000))  # reading would take 5 s
    t0 = time.monotonic()
    err = fetch_error(fetcher, srv.url("/big"), max_bytes=4000)
    assert err.kind == "too_large" and time.monotonic() - t0 < 0.5


def test_default_cap_is_max_feed_bytes(srv):
    srv.route("/f", Reply(body=b"x" * 3000, content_length=False))
    with Fetcher(make_settings(max_feed_bytes=2000)) as f:
        assert fetch_error(f, srv.url("/f")).kind == "too_large"
        assert len(f.get(srv.url("/f"), max_bytes=3000).body) == 3000


@pytest.mark.parametrize(
    ("encoding", "body"), [("zstd", b"whatever"), ("gzip", b"not gzip at all")]
)
def test_undecodable_bodies_are_network_errors(srv, fetcher, encoding, body):
    srv.route("/f", Reply(body=body, headers={"Content-Encoding": encoding}))
    assert fetch_error(fetcher, srv.url("/f")).kind == "network"


GIB = 1 << 30


@cache
def gzip_bomb() -> bytes:
    """1 GiB of zeros as ~1 MB of gzip, built from one full-flushed block (fast: no 1 GiB pass)."""
    mib = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)  # byte-aligned, history reset: repeatable
    tail = c.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(mib, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return (
        header
        + block * 1024
        + tail
        + crc.to_bytes(4, "little")
        + (GIB % 2**32).to_bytes(4, "little")
    )


def brotli_bomb(cache=None) -> bytes:
    """1 GiB of zeros as ~1.6 KB of brotli: the DESIGN.md pitfall. ~1.3 s to build: cached."""
    if cache is not None:
        hit = cache.get("aggregator/fetch/brotli_bomb", None)
        if hit:
            return bytes.fromhex(hit)
    c = brotli.Compressor(quality=3)
    mib = bytes(1 << 20)
    body = b"".join(c.process(mib) for _ in range(1024)) + c.finish()
    if cache is not None:
        cache.set("aggregator/fetch/brotli_bomb", body.hex())
    return body


MIB = 1 << 20

# One child process measures every bomb, so the memory is the fetcher's alone. Before each fetch
# writing "5" to /proc/self/clear_refs resets the peak RSS to the current RSS; after it we read
# the peak from VmHWM. Not ru_maxrss: after fork+exec it also remembers the *parent's* RSS (Linux
# keeps the pre-exec high-water mark), so a big pytest parent made every bomb read ~100 MB.
CHILD = """
import ctypes, gc, json, sys, time
from ipaddress import ip_network
from aggregator.fetch import Fetcher, FetchError
from aggregator.settings import Settings

def status_kb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

small, cases = sys.argv[1], json.loads(sys.argv[2])
out = {}
with Fetcher(Settings(allow_networks=(ip_network("127.0.0.2/32"),), host_spacing=0, fetch_deadline=20)) as f:
    f.get(small)  # warm up: every lazy import and buffer the fetch path needs
    for name, url, cap in cases:
        gc.collect()
        try:  # hand the previous case's freed buffers back to the OS so they aren't reused
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
        with open("/proc/self/clear_refs", "w") as c:
            c.write("5")
        before = status_kb("VmRSS")
        t0 = time.monotonic()
        try:
            f.get(url, max_bytes=cap)
            kind = "ok"
        except FetchError as e:
            kind = e.kind
        took = time.monotonic() - t0
        peak = status_kb("VmHWM")
        out[name] = {"kind": kind, "peak_delta_mb": round((peak - before) / 1024, 1), "seconds": round(took, 3)}
print(json.dumps(out))
"""

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc"
)


@pytest.fixture(scope="module")
def bombs(request):
    """Serve the bombs, fetch each in a child process, return {name: {kind, peak_delta_mb, ...}}."""
    br = brotli_bomb(getattr(request.config, "cache", None))
    gz = gzip_bomb()
    bodies = {
        "gzip": (gz, "gzip", 10 * MIB),
        "br": (br, "br", 10 * MIB),
        "gzip, br": (brotli.compress(gz, quality=1), "gzip, br", 10 * MIB),
        "gzip@50MiB": (gz, "gzip", 50 * MIB),  # sensitivity check for the meter itself
    }
    with Server(ALLOWED) as srv:
        srv.route("/small", Reply(body=_gzip(b"warm" * 1000), headers={"Content-Encoding": "gzip"}))
        cases = []
        for i, (name, (body, encoding, cap)) in enumerate(bodies.items()):
            srv.route(f"/bomb{i}", Reply(body=body, headers={"Content-Encoding": encoding}))
            cases.append((name, srv.url(f"/bomb{i}"), cap))
        out = subprocess.run(
            [sys.executable, "-c", CHILD, srv.url("/small"), json.dumps(cases)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            cwd=ROOT,
        )
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for name, (body, _, cap) in bodies.items():
        print(f"bomb {name}: {len(body)} bytes -> 1 GiB, cap {cap // MIB} MiB: {results[name]}")
    return results, {name: len(b[0]) for name, b in bodies.items()}


@pytest.mark.hostile
@needs_proc
@pytest.mark.parametrize("name", ["gzip", "br", "gzip, br"])
def test_compression_bombs_stop_at_the_cap_with_bounded_memory(bombs, name):
    results, sizes = bombs
    assert results[name]["kind"] == "too_large"
    # The body buffer alone is up to 10 MiB; anything near 1 GiB means a decoder ran away
    # (httpx's own decoder: +2 GB peak on the brotli bomb, measured by hand).
    assert results[name]["peak_delta_mb"] < 100
    if name == "br":
        assert sizes[name] < 2000  # the 1.6 KB -> 1 GiB case from DESIGN.md


@pytest.mark.hostile
@needs_proc
def test_bomb_meter_sees_the_body_buffer(bombs):
    # If the meter were blind (say, peak already above), a 50 MiB cap would read like 10 MiB.
    results, _ = bombs
    assert results["gzip@50MiB"]["kind"] == "too_large"
    assert results["gzip@50MiB"]["peak_delta_mb"] >= 40 > results["gzip"]["peak_delta_mb"]


# ---------------------------------------------------------------- content types


def test_allowed_types_refuse_other_types_before_reading_the_body(srv, fetcher):
    srv.route(
        "/pdf",
        Reply(
            body=b"%PDF" * 100, drip=0.5, drip_size=40, headers={"Content-Type": "application/pdf"}
        ),
    )
    t0 = time.monotonic()
    err = fetch_error(
        fetcher, srv.url("/pdf"), allowed_types=("text/html", "application/xhtml+xml")
    )
    assert err.kind == "not_html" and "application/pdf" in str(err)
    assert time.monotonic() - t0 < 0.4  # the 5 s body was never read


@pytest.mark.parametrize(
    ("ctype", "ok"),
    [
        ("text/html; charset=utf-8", True),
        ("TEXT/HTML", True),
        ("application/xhtml+xml", True),
        ("application/json", False),
        ("", False),
    ],
)
def test_allowed_types_match_the_media_type(srv, fetcher, ctype, ok):
    srv.route("/p", Reply(body=b"<p>", headers={"Content-Type": ctype} if ctype else {}))
    kw = {"allowed_types": ("text/html", "application/xhtml+xml")}
    if ok:
        assert fetcher.get(srv.url("/p"), **kw).body == b"<p>"
    else:
        assert fetch_error(fetcher, srv.url("/p"), **kw).kind == "not_html"


# ---------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("status", "retry_after", "words"),
    [
        (429, "120", "rate limited"),
        (503, "Wed, 21 Oct 2037 07:28:00 GMT", "unavailable"),
        (403, None, "forbidden"),
        (404, None, "not found"),
        (500, None, "Internal Server Error"),
        (302, None, "without a Location"),
    ],
)
def test_error_statuses_raise_http_with_status_and_retry_after(
    srv, fetcher, status, retry_after, words
):
    srv.route(
        "/x",
        Reply(
            status=status, body=b"nope", headers={"Retry-After": retry_after} if retry_after else {}
        ),
    )
    err = fetch_error(fetcher, srv.url("/x"))
    assert (err.kind, err.status, err.retry_after) == ("http", status, retry_after)
    assert str(err).startswith(f"http: {status} ") and words in str(err)


def test_fetch_error_pickles():
    err = FetchError("http", "429 rate limited", url="http://x/", status=429, retry_after="5")
    back = pickle.loads(pickle.dumps(err))
    assert (back.kind, back.status, back.retry_after, str(back)) == ("http", 429, "5", str(err))


# ---------------------------------------------------------------- politeness through the fetcher


def test_host_concurrency_is_respected(srv):
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow(req):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.15)
        with lock:
            state["now"] -= 1
        return Reply(body=b"ok")

    srv.route("/s", slow)
    with Fetcher(make_settings(host_concurrency=2, host_spacing=0)) as f:
        threads = [threading.Thread(target=f.get, args=(srv.url("/s"),)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert srv.hits["/s"] == 6 and state["max"] == 2


def test_host_spacing_is_respected(srv):
    starts = []
    srv.route("/s", lambda req: starts.append(time.monotonic()) or Reply(body=b"ok"))
    with Fetcher(make_settings(host_concurrency=4, host_spacing=0.2)) as f:
        threads = [threading.Thread(target=f.get, args=(srv.url("/s"),)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    starts.sort()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 4 and min(gaps) >= 0.17, gaps


def test_waiting_for_a_slot_cannot_outlast_the_deadline(srv):
    srv.route("/s", Reply(body=b"ok"))
    with Fetcher(make_settings(host_spacing=10, fetch_deadline=1.0)) as f:
        f.get(srv.url("/s"))
        t0 = time.monotonic()
        err = fetch_error(f, srv.url("/s"))
    assert err.kind == "timeout" and time.monotonic() - t0 < 0.2  # gives up at once, not in 10 s


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def ca():
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


@pytest.fixture
def tls_srv(ca):
    server_ctx = __import__("ssl").SSLContext(__import__("ssl").PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    with Server("127.0.0.1", ssl_context=server_ctx) as s:
        s.route("/", Reply(body=b"secret-free"))
        yield s


def _tls_settings():
    return make_settings(
        allow_networks=(ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
    )


def test_tls_verifies_against_the_hostname(ca, tls_srv):
    import ssl

    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    with Fetcher(_tls_settings(), ssl_context=ctx) as f:
        assert f.get(tls_srv.url("/", host="localhost")).body == b"secret-free"
        # Same server, same cert, reached by IP: the name no longer matches -> refused.
        err = fetch_error(f, tls_srv.url("/", host="127.0.0.1"))
    assert err.kind == "tls" and "127.0.0.1" in str(err)


def test_tls_untrusted_certificate_is_refused_by_default(tls_srv):
    with Fetcher(_tls_settings()) as f:  # certifi: does not know the test CA
        err = fetch_error(f, tls_srv.url("/", host="localhost"))
    assert err.kind == "tls" and "certificate" in str(err).lower()
    assert tls_srv.hits["/"] == 0


def test_not_modified_answers_reuse_the_connection(loopback_settings):
    """Pass: twenty conditional GETs answered 304 travel over one kept-alive connection."""
    from aggregator.fetch import Fetcher
    from tests.servers import Reply, Server

    with Server() as srv, Fetcher(loopback_settings) as fetcher:
        srv.route("/feed", Reply(status=304, headers={"ETag": '"x"'}))
        for _ in range(20):
            assert fetcher.get(srv.url("/feed"), etag='"x"').not_modified
        assert srv.hits["/feed"] == 20
        assert srv.connections == 1


# ---------------------------------------------------------------- the wire (aggregator.http11)


class RawServer:
    """A loopback TCP server whose bytes are the test's: connection ``n`` (from 0) is handled by
    ``handle(server, n, sock)`` on its own thread. For framings tests.servers cannot produce."""

    def __init__(self, handle, host: str = ALLOWED) -> None:
        self._handle = handle
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            n, self.connections = self.connections, self.connections + 1
            self._socks.append(sock)
            threading.Thread(target=self._run, args=(n, sock), daemon=True).start()

    def _run(self, n: int, sock: socket.socket) -> None:
        try:
            self._handle(self, n, sock)
        except OSError:
            pass

    def read_request(self, sock: socket.socket) -> bytes:
        """One request head (b"" if the client closed first); recorded in ``requests``."""
        data = b""
        while b"\r\n\r\n" not in data:
            more = sock.recv(4096)
            if not more:
                return b""
            data += more
        self.requests.append(data)
        return data

    def url(self, path: str = "/") -> str:
        return f"http://{ALLOWED}:{self.port}{path}"

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._listener.close()
        for s in self._socks:
            s.close()


def answering(*replies: bytes):
    """A handler sending ``replies`` in turn, one per request, on one kept-alive connection."""

    def handle(srv, n, sock):
        for reply in replies:
            if not srv.read_request(sock):
                return
            sock.sendall(reply)
        srv.read_request(sock)  # hold the connection until the client closes it

    return handle


def test_chunked_body_with_many_chunks_extensions_and_trailers_keeps_the_connection(fetcher):
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;name=value\r\nhello\r\n1\r\n \r\n"
               b"A\r\n0123456789\r\n0\r\nX-Trailer: dropped\r\n\r\n")
    with RawServer(answering(chunked, chunked)) as srv:
        for _ in range(2):
            assert fetcher.get(srv.url()).body == b"hello 0123456789"
        assert srv.connections == 1  # the second GET went over the same connection


def test_keep_alive_reuses_one_connection_for_complete_bodies(srv, fetcher):
    srv.route("/len", Reply(body=b"x" * 5000))
    srv.route("/chunked", Reply(body=_gzip(PAYLOAD), chunked=True, headers={"Content-Encoding": "gzip"}))
    srv.route("/304", Reply(status=304))
    srv.route("/empty", Reply(body=b""))
    for path in ("/len", "/chunked", "/304", "/empty") * 3:
        fetcher.get(srv.url(path), etag='"e"')
    assert srv.total_hits == 12 and srv.connections == 1


@pytest.mark.parametrize(
    ("route", "kw"),
    [
        # too_large in the middle of a chunked body: the rest is still on the wire
        (Reply(body=b"y" * 300_000, chunked=True), {"max_bytes": 1000}),
        # ... or still to come: the socket looks idle when the next request is due
        (Reply(body=b"y" * 6000, chunked=True, drip=0.5, drip_size=2000), {"max_bytes": 1000}),
        (Reply(body=b"y" * 5000), {"max_bytes": 1000}),  # refused on Content-Length, unread
        (Reply(body=b"%PDF", headers={"Content-Type": "application/pdf"}),
         {"allowed_types": ("text/html",)}),
        (Reply(status=404, body=b"gone"), {}),  # error statuses are not read
        (Reply(body=b"bye", headers={"Connection": "close"}), {}),
        (Reply(body=b"until close", content_length=False), {}),
    ],
)
def test_connection_is_not_reused_unless_the_body_was_read_to_its_end(srv, fetcher, route, kw):
    srv.route("/first", route)
    srv.route("/next", Reply(body=b"next"))
    try:
        fetcher.get(srv.url("/first"), **kw)
    except FetchError:
        pass
    assert fetcher.get(srv.url("/next")).body == b"next"
    assert srv.connections == 2


def test_http10_server_gets_a_fresh_connection_per_request(fetcher):
    # Content-Length and no Connection header: an HTTP/1.0 answer still means "no keep-alive".
    reply = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    with RawServer(answering(reply)) as srv:
        assert fetcher.get(srv.url()).body == b"hello"
        assert fetcher.get(srv.url()).body == b"hello"
        assert srv.connections == 2


def test_http10_close_delimited_body(fetcher):
    def handle(srv, n, sock):
        if srv.read_request(sock):
            sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + PAYLOAD)
        sock.close()

    with RawServer(handle) as srv:
        r = fetcher.get(srv.url())
    assert r.body == PAYLOAD and r.headers["content-type"] == "text/plain"


def test_a_kept_alive_connection_closed_by_the_server_is_replaced(fetcher):
    # Connection 0 answers once, then drops the next request without a word (a server whose
    # keep-alive timer fired as the request arrived): the GET is repeated on a new connection.
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def handle(srv, n, sock):
        if n == 0:
            srv.read_request(sock)
            sock.sendall(ok)
            srv.read_request(sock)
            sock.close()
            return
        while srv.read_request(sock):
            sock.sendall(ok)

    with RawServer(handle) as srv:
        assert fetcher.get(srv.url()).body == b"ok"
        assert fetcher.get(srv.url()).body == b"ok"
        assert srv.connections == 2 and len(srv.requests) == 3


def test_a_fresh_connection_closed_without_an_answer_is_a_network_error(fetcher):
    def handle(srv, n, sock):
        srv.read_request(sock)
        sock.close()

    with RawServer(handle) as srv:
        err = fetch_error(fetcher, srv.url())
        assert err.kind == "network" and "without sending a response" in str(err)
        assert srv.connections == 1  # no retry loop on a connection that never worked


def test_an_idle_connection_the_server_closed_is_not_used(fetcher):
    closed = threading.Event()

    def handle(srv, n, sock):
        srv.read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        sock.close()  # no "Connection: close": the client finds out from the socket
        closed.set()

    with RawServer(handle) as srv:
        assert fetcher.get(srv.url()).body == b"ok"
        assert closed.wait(5)
        assert fetcher.get(srv.url()).body == b"ok"
        assert srv.connections == 2 and len(srv.requests) == 2


def test_an_idle_connection_with_unasked_bytes_is_not_used(fetcher):
    # Some servers say "408 Request Timeout" on an idle kept-alive connection before (or
    # instead of) closing it; that answer must not be taken for the next request's.
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    said = threading.Event()

    def handle(srv, n, sock):
        srv.read_request(sock)
        sock.sendall(ok)
        if n == 0:
            time.sleep(0.1)  # after the client has read "ok" (else it is one read: see close())
            sock.sendall(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
            said.set()
        srv.read_request(sock)  # keep it open

    with RawServer(handle) as srv:
        assert fetcher.get(srv.url()).body == b"ok"
        assert said.wait(5)
        assert fetcher.get(srv.url()).body == b"ok"
        assert srv.connections == 2


def test_informational_answers_folding_repeats_and_bare_newlines(fetcher):
    reply = (b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
             b"HTTP/1.1 200\nX-Many: 1\nX-Many: 2\nX-Folded: one\n  two\nContent-Length: 2\n\nok")
    with RawServer(answering(reply)) as srv:
        r = fetcher.get(srv.url())
    assert r.body == b"ok" and r.headers["x-many"] == "1, 2"
    assert r.headers["x-folded"] == "one two" and "link" not in r.headers


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "received 5 bytes, expected 10"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "incomplete chunked"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", "longer"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", "Transfer-Encoding"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "conflicting"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "malformed header"),
        (b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", "control character"),
        (b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "control character"),
        (b"ICY 200 OK\r\n\r\n", "bad status line"),
        (b"HTTP/2 200\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched protocols"),
        (b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * 110_000 + b"\r\n\r\n", "larger than"),
        (b"HTTP/1.1 200 OK\r\nX-Half: a", "middle of the headers"),
    ],
)
def test_broken_http_is_a_network_error(fetcher, reply, words):
    def handle(srv, n, sock):
        srv.read_request(sock)
        sock.sendall(reply)
        sock.close()

    with RawServer(handle) as srv:
        err = fetch_error(fetcher, srv.url())
    assert err.kind == "network" and words in str(err), err


def test_header_values_that_would_split_the_request_are_refused(srv, fetcher):
    srv.route("/", Reply(body=b"ok"))
    err = fetch_error(fetcher, srv.url("/"), etag='"a"\r\nX-Injected: 1')
    assert err.kind == "network" and "illegal" in str(err)
    assert srv.total_hits == 0


def test_request_head_carries_host_with_port_and_the_encoded_path(srv, fetcher):
    srv.route("*", Reply(body=b"ok"))
    fetcher.get(srv.url("/a b/ü?q=1 2#frag"))
    req = srv.requests[0]
    assert req.path == "/a%20b/%C3%BC?q=1%202"
    assert req.headers["host"] == f"{ALLOWED}:{srv.port}"


@pytest.mark.hostile
@pytest.mark.parametrize("chunked", [False, True])
def test_deadline_cuts_a_body_drip_after_a_reused_connection(srv, chunked):
    # The first GET leaves a kept-alive connection; the drip then comes over it (chunk framing
    # lines dripped too when chunked).
    srv.route("/ok", Reply(body=b"ok"))
    srv.route("/drip", Reply(body=b"x" * 100, drip=0.1, chunked=chunked))
    with Fetcher(make_settings(fetch_deadline=DEADLINE)) as f:
        f.get(srv.url("/ok"))
        t0 = time.monotonic()
        err = fetch_error(f, srv.url("/drip"))
        took = time.monotonic() - t0
    assert err.kind == "timeout" and srv.connections == 1
    assert DEADLINE - 0.05 <= took <= DEADLINE + 1.0


def test_pool_is_bounded_and_idle_connections_expire():
    from aggregator import http11

    pool = http11.Pool(max_idle=2, expiry=5.0)
    pairs = [socket.socketpair() for _ in range(3)]
    conns = [http11.Connection(a, ("http", "h", n)) for n, (a, _b) in enumerate(pairs)]
    for c in conns:
        pool.release(c)
    assert pool.idle() == 2 and conns[0].sock.fileno() == -1  # the oldest was closed
    conns[1].idle_since -= 10  # idle longer than the expiry
    assert pool.acquire(("http", "h", 1)) is None and conns[1].sock.fileno() == -1
    assert pool.acquire(("http", "h", 2)) is conns[2] and pool.idle() == 0
    pool.close()
    pool.release(conns[2])  # released after close: closed, not kept
    assert pool.idle() == 0 and conns[2].sock.fileno() == -1
    for _a, b in pairs:
        b.close()


def test_tls_connection_is_kept_alive(ca, tls_srv):
    import ssl

    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    with Fetcher(_tls_settings(), ssl_context=ctx) as f:
        for _ in range(3):
            assert f.get(tls_srv.url("/", host="localhost")).body == b"secret-free"
    assert tls_srv.connections == 1


SIMPLE_URLS = [
    "http://127.0.0.2:8080/p/z-04a6711caa7c6875.html",
    "https://www.example-news.com/world/2026/11/28/a-long-slug-123456.html?utm_source=rss&x=%41",
    "https://example.com/a/b;c=d/e:f@g/~h_i-j.k!$&'()*+,=?q=/?:@&r=1",
    "http://h:80/a",  # default ports vanish
    "https://h:443/a?",
    "https://h:444/a??b",
    "http://a-b.c-d.example/",
    "http://0.0.0.0/",
    "http://255.255.255.255/x",
]
NOT_SIMPLE_URLS = [
    "http://0177.0.0.3/", "http://127.1/", "http://2130706435/", "http://0x7f.1/",
    "http://256.1.1.1/", "http://1.2.3.4.5/", "http://h..x/", "http://h./", "http://-h/",
    "http://h/a/./b", "http://h/a/../b", "http://h/.", "http://Host/a", "HTTP://h/", "http://h/a#f",
    "http://h:08/", "http://h:99999/", "http://h:0/", "http://h", "http://u:p@h/", "http://h/a b",
    "http://h/ü", "http://bücher.de/", "http://[::1]/", "http://h/%zz", "ftp://h/", "http://h/\t",
]


@pytest.mark.parametrize("url", SIMPLE_URLS + NOT_SIMPLE_URLS)
def test_the_fast_url_parse_agrees_with_httpx(url):
    import httpx

    from aggregator.fetch import _parse_url, _Simple

    try:
        ref = httpx.URL(url)
    except httpx.InvalidURL:
        ref = None
    try:
        ours = _parse_url(url)
    except FetchError:
        ours = None
    # The fast path takes exactly the simple URLs; the rest are httpx's to parse (or refuse).
    assert isinstance(ours, _Simple) == (url in SIMPLE_URLS), (url, type(ours))
    if isinstance(ours, _Simple):
        assert ref is not None
        got = (str(ours), ours.scheme, ours.host, ours.port, ours.raw_host, ours.netloc,
               ours.raw_path)
        want = (str(ref), ref.scheme, ref.host, ref.port, ref.raw_host, ref.netloc, ref.raw_path)
        assert got == want
        assert str(ours.join("../x?y")) == str(ref.join("../x?y"))
