"""Modem entries of the settings: ``[[modems]]`` tables in TOML, or bare port URLs
(``MSISDN_GATEWAY_MODEMS=/dev/gsm-modem-0,/dev/gsm-modem-1``, ``--modem URL``).

Each entry becomes a ``modem.transport.ModemConfig``; unknown keys and wrong types are
refused with a message naming the modem and the key.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # imported when used: the API's import chain stays free of pyserial
    from modem.transport import ModemConfig

_TYPES = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float),
          "str | None": (str,), "int | None": (int,), "float | None": (int, float)}


def modem_configs(items: Iterable[Any]) -> tuple[ModemConfig, ...]:
    """Parse modem entries; raises ValueError. Names default to ``modem<N>`` and must
    be unique, as must URLs."""
    from modem.transport import ModemConfig

    configs = []
    for index, item in enumerate(items):
        entry = {"url": item} if isinstance(item, str) else item
        if isinstance(entry, ModemConfig):
            configs.append(entry)
            continue
        if not isinstance(entry, dict):
            raise ValueError(f"modem #{index + 1} must be a URL or a table, not {item!r}")
        configs.append(_one(index, entry))
    for attribute in ("name", "url"):
        seen = [getattr(c, attribute) for c in configs]
        duplicates = {v for v in seen if seen.count(v) > 1}
        if duplicates:
            raise ValueError(f"modem {attribute}s must be unique: {sorted(duplicates)}")
    return tuple(configs)


def _one(index: int, entry: dict) -> ModemConfig:
    from modem.transport import ModemConfig

    fields = {f.name: f for f in dataclasses.fields(ModemConfig)}
    label = f"modem #{index + 1}" + (f" ({entry['name']})" if "name" in entry else "")
    unknown = set(entry) - set(fields)
    if unknown:
        raise ValueError(f"{label}: unknown key(s) {sorted(unknown)}; "
                         f"known: {sorted(fields)}")
    if not str(entry.get("url", "")).strip():
        raise ValueError(f"{label}: url is required (a device path or a pyserial URL)")
    for key, value in entry.items():
        allowed = _TYPES.get(str(fields[key].type), (object,))
        if isinstance(value, bool) and bool not in allowed or not isinstance(value, allowed):
            hint = " (write it in quotes)" if allowed[0] is str else ""
            raise ValueError(f"{label}: {key} has the wrong type ({value!r}){hint}")
    values = dict(entry)
    values.setdefault("name", f"modem{index}")
    for key in ("pin", "own_number", "cnmi"):
        if values.get(key) is not None:
            values[key] = str(values[key])
    return ModemConfig(**values)
