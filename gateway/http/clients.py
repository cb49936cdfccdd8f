"""Client addresses (behind trusted proxies), the per-client request limit (117) and the
key of the per-client SMS budget.

A *client* is one IPv4 address, or one IPv6 /64 (what one subscriber or one LAN gets:
a client owning a /64 must not get 2^64 budgets). An IPv4 address seen as IPv4-mapped
IPv6 (``::ffff:203.0.113.7``, a dual-stack socket) is that IPv4 address. Its address is
the peer's, or, when the peer is a trusted proxy (``trusted_proxies``), the right-most
address of X-Forwarded-For that is not itself a trusted proxy. Clients in
``rate_limit_exempt_networks`` are limited by neither budget.
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from flask import Request

from gateway.errors import TooManyRequests
from gateway.storage.uow import UnitOfWork
from gateway.verification import ratelimit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
IPV6_CLIENT_PREFIX = 64


@lru_cache(maxsize=16)
def _networks(specs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)


def _address(text: str) -> Address | None:
    """``text`` as an IP address (an IPv4-mapped IPv6 address as its IPv4 address), or
    None. Parsed once per process for a text the length of an address: the peer's
    address is looked at several times per request, and comes again and again."""
    return _parsed(text) if len(text) <= _LONGEST_ADDRESS else _parse(text)


def _parse(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_LONGEST_ADDRESS = 64  # an IPv6 address with a scope and spaces around still fits
_parsed = lru_cache(maxsize=4096)(_parse)


@lru_cache(maxsize=4096)
def _in(address: Address, specs: tuple[str, ...]) -> bool:
    return any(address in net for net in _networks(specs))


def is_trusted_proxy(peer: str, trusted_proxies: tuple[str, ...]) -> bool:
    """Whether the address ``peer`` (text) is in ``trusted_proxies`` (an IPv4-mapped IPv6
    address as its IPv4 address)."""
    address = _address(peer)
    return address is not None and _in(address, trusted_proxies)


def _client(request: Request, trusted_proxies: tuple[str, ...]) -> tuple[str, Address | None]:
    """The client's address, as text and parsed (None when it does not parse)."""
    peer = request.remote_addr or ""
    address = _address(peer)
    peer_client = (str(address) if address is not None else peer), address
    if address is None or not trusted_proxies or not _in(address, trusted_proxies):
        return peer_client
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")
    for hop in reversed(forwarded):
        address = _address(hop)
        if address is None:
            return peer_client
        if not _in(address, trusted_proxies):
            return str(address), address
    return peer_client


def client_address(request: Request, trusted_proxies: tuple[str, ...]) -> str:
    """The client's IP: the peer address, or, when the peer is a trusted proxy, the
    right-most address of X-Forwarded-For that is not itself a trusted proxy."""
    return _client(request, trusted_proxies)[0]


def client_key(request: Request, settings) -> str | None:
    """The client as the budgets count it (the IPv4 address, the IPv6 /64, or the peer
    as given when it is not an IP address); None for an exempt client."""
    text, address = _client(request, settings.trusted_proxies)
    if address is None:
        return text
    exempt = settings.rate_limit_exempt_networks
    if exempt and _in(address, exempt):
        return None
    if address.version == 6:
        return str(ipaddress.ip_network((address, IPV6_CLIENT_PREFIX), strict=False))
    return text


def limit_client(uow: UnitOfWork, deps, request: Request) -> None:
    """Count this request for its client in ``uow`` (the caller commits, or rolls back a
    refusal); raises TooManyRequests (429/117). Exempt networks are not counted."""
    key = client_key(request, deps.settings)
    if key is not None:
        ratelimit.enforce(uow, deps.now(), deps.settings.rate_limit_client, "client",
                          deps.secret.digest("client", key), TooManyRequests)


def sms_client(deps, request: Request) -> str | None:
    """The key of this request's client for the per-client SMS budget
    (``rate_limit_client_sms``, counted by gateway.verification.mt.issue_code): a keyed
    hash of the client (never the address in clear), or None for an exempt client."""
    key = client_key(request, deps.settings)
    return None if key is None else deps.secret.digest("client-sms", key)
