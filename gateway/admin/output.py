"""Command output: aligned tables for people, JSON for scripts."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Sequence


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("\n", " ")


def table(rows: Sequence[dict], columns: Sequence[tuple[str, str]], width: int = 60) -> str:
    """``columns`` are (key, heading); long cells are cut at ``width`` characters."""
    if not rows:
        return "(none)"
    cells = [[_cell(row.get(key))[:width] for key, _ in columns] for row in rows]
    headings = [heading for _, heading in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headings)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headings, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=lambda v: v.isoformat()
                      if isinstance(v, datetime) else str(v))
