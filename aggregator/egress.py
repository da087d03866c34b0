"""Egress guard: which addresses the fetcher may connect to.

Feed and article URLs come from strangers (feeds.yaml is ours, but every <link> and every redirect
is theirs), so a fetch must never reach the machine itself, the LAN, or a cloud metadata service
(SSRF). The decision is made on the *resolved* address, never on the URL string: getaddrinfo
accepts ``2130706433``, ``0177.0.0.1``, ``0x7f.1`` and ``127.1`` as 127.0.0.1, and a DNS name can
point anywhere. ``aggregator.fetch`` calls :func:`resolve_checked` at connect time and connects to
exactly the address checked here, so a second (rebinding) DNS answer never gets a say.

Pure functions except :func:`resolve_checked`, which also calls getaddrinfo.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressBlocked(Exception):
    """The host resolves to an address we refuse to connect to (message says which and why)."""


class ResolveError(Exception):
    """DNS said no (or took too long)."""


_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Ordered: the first matching network names the reason, so specific entries come before the
# ranges that contain them (metadata before link-local).
_FORBIDDEN_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("169.254.169.254/32"), "the cloud metadata address"),
    (_V4("0.0.0.0/8"), "an unspecified ('this network') address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("100.64.0.0/10"), "a carrier-grade NAT (shared) address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.0.0.0/24"), "an IETF protocol-assignment address"),
    (_V4("192.0.2.0/24"), "a documentation address"),
    (_V4("192.88.99.0/24"), "a 6to4 relay anycast address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("198.18.0.0/15"), "a benchmarking address"),
    (_V4("198.51.100.0/24"), "a documentation address"),
    (_V4("203.0.113.0/24"), "a documentation address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("255.255.255.255/32"), "the broadcast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),
)

_FORBIDDEN_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "an unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_V6("100::/64"), "a discard-only address"),
    (_V6("2001::/32"), "a Teredo tunnel address"),  # embeds an obfuscated client v4: refuse all
    (_V6("2001:db8::/32"), "a documentation address"),
    (_V6("fc00::/7"), "a unique-local (ULA) address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address"),
    (_V6("ff00::/8"), "a multicast address"),
)

_NAT64 = _V6("64:ff9b::/96")
_V4_COMPATIBLE = _V6("::/96")  # deprecated ::a.b.c.d form; some stacks still route it as v4


def embedded_v4(ip: IPAddress) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64), if any.

    These all end up talking to that IPv4 host, so they must be judged as that host.
    """
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip in _V4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are their own thing
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "IPv4-compatible"
    return None


def _allowed(ip: IPAddress, allow: Iterable[Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in allow)


def forbidden_reason(ip: IPAddress, allow: Iterable[Network] = ()) -> str | None:
    """Why connecting to ``ip`` is refused, or None if it is a public address (or allow-listed).

    The allow-list is checked against the address and against the IPv4 it embeds, so allowing
    127.0.0.0/8 also allows ::ffff:127.0.0.1 (same host) — the operator asked for that host.
    """
    allow = tuple(allow)
    ip = ipaddress.ip_address(str(ip).split("%", 1)[0]) if getattr(ip, "scope_id", None) else ip
    if _allowed(ip, allow):
        return None
    inner = embedded_v4(ip)
    if inner is not None:
        v4, how = inner
        reason = forbidden_reason(v4, allow)
        return None if reason is None else f"an {how} form of {v4}, {reason}"
    table = _FORBIDDEN_V4 if ip.version == 4 else _FORBIDDEN_V6
    for net, reason in table:
        if ip in net:
            return reason
    # Catch-all for whatever IANA reserves next: only globally routable addresses pass.
    if not ip.is_global:
        return "a non-global address"
    return None


def check(ip: IPAddress, allow: Iterable[Network] = ()) -> None:
    reason = forbidden_reason(ip, allow)
    if reason is not None:
        raise EgressBlocked(f"{ip} is {reason}")


@dataclass(frozen=True)
class Target:
    """One checked address to connect to, straight from getaddrinfo (no second lookup)."""

    family: int
    sockaddr: tuple
    ip: IPAddress


def _getaddrinfo(host: str, port: int, timeout: float) -> list:
    """getaddrinfo with a timeout: it has none of its own, and the fetch deadline is total.

    The lookup runs on a daemon thread; if it overruns we stop waiting (the thread finishes or
    dies with the process). Numeric hosts short-circuit inside libc, so tests pay no thread cost
    worth mentioning.
    """
    box: dict = {}

    def run() -> None:
        try:
            box["ok"] = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            box["err"] = exc

    t = threading.Thread(target=run, name=f"dns:{host}", daemon=True)
    t.start()
    t.join(max(timeout, 0.0))
    if t.is_alive():
        raise TimeoutError(f"DNS lookup of {host} took longer than {timeout:.1f}s")
    if "err" in box:
        raise ResolveError(f"cannot resolve {host}: {box['err']}") from box["err"]
    return box["ok"]


def resolve_checked(host: str, port: int, allow: Iterable[Network], timeout: float) -> list[Target]:
    """Resolve ``host`` and return the addresses to try, refusing if ANY answer is forbidden.

    Refusing the whole name (rather than skipping the bad answers) keeps the rule simple to
    state and denies an attacker the ``public, 127.0.0.1`` mixed answer as a probe.
    """
    allow = tuple(allow)
    host = host.strip("[]")
    try:  # a canonical IP literal needs no lookup (and no thread); odd spellings still resolve
        literal = ipaddress.ip_address(host)
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        sockaddr = (str(literal), port, 0, 0) if literal.version == 6 else (str(literal), port)
        infos = [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]
    except ValueError:
        infos = _getaddrinfo(host, port, timeout)
    targets: list[Target] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        reason = forbidden_reason(ip, allow)
        if reason is not None:
            shown = host if host == str(ip) else f"{host} resolves to {ip}, which"
            raise EgressBlocked(f"{shown} is {reason}")
        if all(t.sockaddr != sockaddr for t in targets):
            targets.append(Target(family, sockaddr, ip))
    if not targets:
        raise ResolveError(f"cannot resolve {host}: no IPv4/IPv6 address")
    return targets
