"""Client addresses (behind trusted proxies) and the per-client request limit (117)."""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from flask import Request

from gateway.errors import TooManyRequests
from gateway.storage.uow import UnitOfWork
from gateway.verification import ratelimit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=16)
def _networks(specs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _client(request: Request, trusted_proxies: tuple[str, ...]) -> tuple[str, Address | None]:
    """The client's address, as text and parsed (None when it does not parse)."""
    proxies = _networks(trusted_proxies)
    peer = request.remote_addr or ""
    address = _address(peer)
    if address is None or not proxies or not any(address in net for net in proxies):
        return (str(address) if address is not None else peer), address
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")
    for hop in reversed(forwarded):
        address = _address(hop)
        if address is None:
            return peer, _address(peer)
        if not any(address in net for net in proxies):
            return str(address), address
    return peer, _address(peer)


def client_address(request: Request, trusted_proxies: tuple[str, ...]) -> str:
    """The client's IP: the peer address, or, when the peer is a trusted proxy, the
    right-most address of X-Forwarded-For that is not itself a trusted proxy."""
    return _client(request, trusted_proxies)[0]


def limit_client(uow: UnitOfWork, deps, request: Request) -> None:
    """Count this request for its client address in ``uow`` (the caller commits, or rolls
    back a refusal); raises TooManyRequests (429/117). Exempt networks are not counted."""
    settings = deps.settings
    text, address = _client(request, settings.trusted_proxies)
    exempt = settings.rate_limit_exempt_networks
    if address is not None and exempt and any(address in net for net in _networks(exempt)):
        return
    ratelimit.enforce(uow, deps.now(), settings.rate_limit_client, "client",
                      deps.secret.digest("client", text), TooManyRequests)
