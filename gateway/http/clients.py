"""Client addresses (behind trusted proxies) and the per-client request limit (117)."""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from flask import Request

from gateway.errors import TooManyRequests
from gateway.verification import ratelimit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def _networks(specs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(request: Request, trusted_proxies: tuple[str, ...]) -> str:
    """The client's IP: the peer address, or, when the peer is a trusted proxy, the
    right-most address of X-Forwarded-For that is not itself a trusted proxy."""
    proxies = _networks(trusted_proxies)
    peer = request.remote_addr or ""
    hops = [peer] + list(reversed(request.headers.get("X-Forwarded-For", "").split(",")))
    for hop in hops:
        address = _address(hop)
        if address is None:
            return peer
        if not any(address in net for net in proxies):
            return str(address)
    return peer


def limit_client(deps, request: Request) -> None:
    """Count this request for its client address; raises TooManyRequests (429/117)."""
    settings = deps.settings
    address = client_address(request, settings.trusted_proxies)
    parsed = _address(address)
    if parsed is not None and any(parsed in net for net in
                                  _networks(settings.rate_limit_exempt_networks)):
        return
    with deps.uow() as uow:
        ratelimit.enforce(uow, deps.now(), settings.rate_limit_client, "client",
                          deps.secret.digest("client", address), TooManyRequests)
        uow.commit()
