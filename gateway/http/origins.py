"""Which ``scheme://host[:port]`` the API names itself by: never the request's Host as sent.

A request's Host header is chosen by whoever sends it. The URLs the API returns (discover's
``sms/mt`` URL, the root document's endpoint) are built from a configured origin only:

- the request's Host when it is one of the configured ones: the host and port of
  ``public_url`` (or, without it, of the listen address) or an entry of ``allowed_hosts``,
  written as configured, with the scheme of ``public_url`` (without it, the request's own
  scheme, which gunicorn takes from X-Forwarded-Proto of a trusted proxy only);
- any other Host: ``public_url`` (without it, ``http://<host>:<port>`` of the listen
  address), never an echo.

Hawk MACs cover the host and port the client signed for. They are checked against the
same origin, with one difference: when neither ``public_url`` nor ``allowed_hosts`` is
set (a development box reached by whatever name), against the request's own Host, as Hawk
does by default. That answers nothing back: a MAC made for another host simply fails.
Once either is set, a client must sign for ``public_url`` or for an allowed host it used.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from gateway.config.settings import Settings, host_and_port

DEFAULT_PORTS = {"http": 80, "https": 443}


class Origins:
    """The configured origins of one app, as lookup tables built once (a request costs
    one dict lookup). Immutable after construction; safe from any thread."""

    def __init__(self, settings: Settings) -> None:
        self.public = settings.effective_public_url.rstrip("/")
        public = urlsplit(self.public)
        self._scheme = public.scheme if settings.public_url else None
        self._strict = bool(settings.public_url or settings.allowed_hosts)
        # scheme -> Host header (lowercase, every spelling of the port) -> configured entry
        self._known: dict[str, dict[str, str]] = {scheme: {} for scheme in DEFAULT_PORTS}
        try:
            self._add(public.netloc.lower())
        except ValueError:  # a listen host that is no DNS name: answered with public anyway
            pass
        for entry in settings.allowed_hosts:  # validated by the settings
            self._add(entry.lower())

    def _add(self, entry: str) -> None:
        host, port = host_and_port(entry)
        name = f"[{host}]" if ":" in host else host
        for scheme, default in DEFAULT_PORTS.items():
            spellings = [f"{name}:{port or default}"]
            if port in (None, default):
                spellings.append(name)
            for spelling in spellings:
                self._known[scheme].setdefault(spelling, entry)

    def _configured(self, scheme: str, host: str) -> tuple[str, str | None]:
        scheme = self._scheme or scheme
        return scheme, self._known.get(scheme, {}).get(host.lower())

    def base_url(self, scheme: str, host: str) -> str:
        """The origin for URLs answered to a request of this scheme and Host header."""
        scheme, entry = self._configured(scheme, host)
        return self.public if entry is None else f"{scheme}://{entry}"

    def hawk_origin(self, scheme: str, host: str, root_path: str) -> str:
        """The URL (origin plus the app's root path) Hawk MACs are checked against."""
        scheme, entry = self._configured(scheme, host)
        if entry is not None:
            return f"{scheme}://{entry}{root_path}"
        if self._strict:
            return self.public
        return f"{scheme}://{host}{root_path}"
