"""Value types of the settings and the conversion of raw values (TOML, environment
strings, CLI flags) into them. Raises ValueError with a message for the user; the
settings module adds which setting and which source."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config.modems import modem_configs

_PERIOD_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RULE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")

# A sliding window keeps the times of its last ``limit`` events (gateway.storage.
# rate_windows): bounded so that a typo cannot ask for a billion rows or a period that
# no date arithmetic can hold.
MAX_RULE_LIMIT = 1_000_000
MAX_RULE_PERIOD = 366 * 86400


@dataclass(frozen=True)
class RateRule:
    """At most ``limit`` events in any ``period`` seconds (a sliding window)."""

    limit: int
    period: int

    @classmethod
    def parse(cls, text: str) -> "RateRule":
        """Parse ``"3/10m"``, ``"10/1d"``, ``"1000/m"`` (units s, m, h, d)."""
        match = _RULE.match(text)
        if not match or int(match.group(1)) < 1:
            raise ValueError(f"{text!r} is not a rate such as '3/10m' or '1000/1m'")
        count = int(match.group(2) or 1)
        if count < 1:
            raise ValueError(f"{text!r} has a zero period")
        rule = cls(int(match.group(1)), count * _PERIOD_UNITS[match.group(3)])
        if rule.limit > MAX_RULE_LIMIT or rule.period > MAX_RULE_PERIOD:
            raise ValueError(f"{text!r}: at most {MAX_RULE_LIMIT} events in at most 366 days")
        return rule

    def __str__(self) -> str:
        return f"{self.limit}/{self.period}s"


def coerce(kind: str, value: Any) -> Any:
    """Convert a TOML/env/CLI value to the type named ``kind`` (a Settings field's
    annotation); raises ValueError."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    if kind == "int":
        # No bool (an int subclass) and no float: 5000.7 must not silently become 5000.
        if isinstance(value, (bool, float)):
            raise ValueError(f"{value!r} is not an integer")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not an integer") from None
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number") from None
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a string")
        return value
    if kind in ("Path", "Path | None"):
        if str(value).strip():
            return Path(value)
        if kind == "Path":
            raise ValueError("must not be empty")
        return None
    items = value if isinstance(value, (list, tuple)) else [
        item for item in str(value).split(",") if item.strip()]
    if kind == "tuple[RateRule, ...]":
        return tuple(i if isinstance(i, RateRule) else RateRule.parse(str(i)) for i in items)
    if kind == "tuple[str, ...]":
        return tuple(str(i).strip() for i in items)
    if kind == "tuple[ModemConfig, ...]":
        return modem_configs(i.strip() if isinstance(i, str) else i for i in items)
    raise AssertionError(f"no coercion for {kind}")
