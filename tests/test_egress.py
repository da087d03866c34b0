"""The egress guard's decisions, table-tested on addresses (no sockets but getaddrinfo on literals)."""

from __future__ import annotations

import ipaddress
import re
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator import egress

ip = ipaddress.ip_address
net = ipaddress.ip_network

FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.5", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("169.254.169.254", "metadata"),
    ("169.254.1.1", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("192.0.2.1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("192.0.0.8", "IETF"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, a loopback"),
    ("::ffff:10.1.2.3", "IPv4-mapped form of 10.1.2.3, a private"),
    ("::ffff:169.254.169.254", "metadata"),
    ("::127.0.0.1", "IPv4-compatible form of 127.0.0.1"),
    ("::10.0.0.1", "IPv4-compatible"),
    ("2002:7f00:1::", "6to4 form of 127.0.0.1"),
    ("2002:c0a8:101::1", "6to4 form of 192.168.1.1"),
    ("2002:a9fe:a9fe::", "6to4 form of 169.254.169.254, the cloud metadata"),
    ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1"),
    ("64:ff9b::a00:1", "NAT64 form of 10.0.0.1"),
    ("64:ff9b:1::1", "local-use NAT64"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("100::1", "discard"),
]

ALLOWED = [
    "93.184.215.14",
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.32.0.1",  # just above 172.16/12
    "2606:4700::6810:84e5",
    "::ffff:8.8.8.8",  # mapped public: same host as 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize(("addr", "why"), FORBIDDEN)
def test_forbidden_addresses_are_refused_with_a_reason(addr, why):
    reason = egress.forbidden_reason(ip(addr))
    assert reason is not None and why in reason
    with pytest.raises(egress.EgressBlocked, match=f"^{re.escape(str(ip(addr)))} is "):
        egress.check(ip(addr))


@pytest.mark.parametrize("addr", ALLOWED)
def test_public_addresses_pass(addr):
    assert egress.forbidden_reason(ip(addr)) is None


@pytest.mark.parametrize(
    ("addr", "allow", "ok"),
    [
        ("127.0.0.2", ["127.0.0.0/8"], True),
        ("127.0.0.2", ["127.0.0.2/32"], True),
        ("127.0.0.3", ["127.0.0.2/32"], False),
        ("::ffff:127.0.0.2", ["127.0.0.2/32"], True),  # same host, same decision
        ("::ffff:127.0.0.3", ["127.0.0.2/32"], False),
        ("10.1.2.3", ["10.0.0.0/8"], True),
        ("::1", ["127.0.0.0/8"], False),  # v4 allow-list never covers v6 loopback
        ("fd00::5", ["fd00::/8"], True),
        ("169.254.169.254", ["10.0.0.0/8"], False),
    ],
)
def test_allow_networks(addr, allow, ok):
    allowed = tuple(net(a) for a in allow)
    assert (egress.forbidden_reason(ip(addr), allowed) is None) is ok


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0177.0.0.1",
        "0x7f.1",
        "0x7f.0.0.1",
        "127.1",
        "017700000001",
        "0x7f000001",
        "localhost",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:7f00:1",
        "[::1]",
        "0",
    ],
)
def test_numeric_spellings_of_loopback_are_refused_after_resolution(host):
    # getaddrinfo normalises these; the guard judges what it returns, not the string.
    with pytest.raises(egress.EgressBlocked):
        egress.resolve_checked(host, 80, (), timeout=2)


def test_resolve_checked_returns_the_checked_address():
    targets = egress.resolve_checked("2130706434", 8080, (net("127.0.0.2/32"),), timeout=2)
    assert [(t.ip, t.sockaddr[:2]) for t in targets] == [(ip("127.0.0.2"), ("127.0.0.2", 8080))]


def test_a_mixed_dns_answer_is_refused_whole(monkeypatch):
    def fake(host, port, *a, **kw):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(egress.socket, "getaddrinfo", fake)
    with pytest.raises(
        egress.EgressBlocked, match="news.example resolves to 10.0.0.7, which is a private"
    ):
        egress.resolve_checked("news.example", 443, (), timeout=2)


def test_slow_dns_is_cut_at_the_timeout(monkeypatch):
    import threading
    import time

    release = threading.Event()
    monkeypatch.setattr(egress.socket, "getaddrinfo", lambda *a, **k: release.wait(5) and [])
    t0 = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            egress.resolve_checked("slow.example", 80, (), timeout=0.3)
    finally:
        release.set()
    assert time.monotonic() - t0 < 1.0


def test_unresolvable_name(monkeypatch):
    def fake(*a, **k):  # no real DNS in tests
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(egress.socket, "getaddrinfo", fake)
    with pytest.raises(egress.ResolveError, match="cannot resolve no-such-host.invalid"):
        egress.resolve_checked("no-such-host.invalid", 80, (), timeout=5)


PRIVATE_V4 = [
    net(n)
    for n in (
        "10.0.0.0/8",
        "127.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
    )
]


@given(st.sampled_from(PRIVATE_V4), st.integers(min_value=0, max_value=2**32 - 1))
def test_every_embedding_of_a_private_v4_is_refused(network, n):
    v4 = network[n % network.num_addresses]
    forms = [
        ipaddress.IPv6Address(f"::ffff:{v4}"),
        ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80)),
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(v4)),
    ]
    assert egress.forbidden_reason(v4) is not None
    for form in forms:
        assert egress.forbidden_reason(form) is not None, form
