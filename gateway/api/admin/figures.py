"""What the overview draws, as plain values and inline SVG built on the server (no
script, no asset from another host): signal bars, the last 24 hours of SMS per hour,
verifications per method and country with their conversion."""
from __future__ import annotations

from datetime import datetime, timedelta

from markupsafe import Markup, escape

HOURS = 24
# Bars for a dBm figure, as phones draw them (CSQ 2..30 is -109..-53 dBm).
SIGNAL_STEPS = (-103, -93, -83, -73)
SERIES = (("sent", "Sent", "#1f5fa8"), ("delivered", "Delivered", "#17692f"),
          ("failed", "Failed", "#b3261e"))
FAILED = ("failed", "unknown", "expired")


def signal_bars(dbm: int | None) -> int:
    """0 to 4 bars for a signal in dBm (None: no signal, 0 bars)."""
    if dbm is None:
        return 0
    return sum(1 for step in SIGNAL_STEPS if dbm >= step)


def signal_svg(dbm: int | None) -> Markup:
    bars = signal_bars(dbm)
    label = f"signal {bars} of 4 bars" + (f", {dbm} dBm" if dbm is not None else ", none")
    rects = "".join(
        f'<rect x="{i * 6}" y="{12 - 3 * (i + 1)}" width="4" height="{3 * (i + 1)}" '
        f'fill="{"#1b1b1b" if i < bars else "#c4c4c4"}"/>' for i in range(4))
    return Markup(f'<svg class="bars" width="24" height="12" viewBox="0 0 24 12" '
                  f'role="img" aria-label="{escape(label)}">{rects}</svg>')


def hourly(rows: list[tuple[str, datetime]], now: datetime) -> list[dict]:
    """The last HOURS hours, oldest first: per hour, SMS that left the box (``sent``:
    sent or delivered), were ``delivered`` and ``failed`` (failed, unknown or expired),
    counted by the time of their last change."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    buckets = [{"hour": start + timedelta(hours=i), "sent": 0, "delivered": 0, "failed": 0}
               for i in range(HOURS)]
    for status, at in rows:
        index = int((at - start) // timedelta(hours=1))
        if not 0 <= index < HOURS:
            continue
        bucket = buckets[index]
        if status in ("sent", "delivered"):
            bucket["sent"] += 1
        if status == "delivered":
            bucket["delivered"] += 1
        if status in FAILED:
            bucket["failed"] += 1
    return buckets


def chart_svg(buckets: list[dict]) -> Markup:
    """A bar chart of ``hourly()``: three bars per hour, an axis every 6 hours."""
    width, height, left, bottom = 480, 160, 28, 18
    plot_w, plot_h = width - left - 4, height - bottom - 8
    top = max([1] + [b[key] for b in buckets for key, _, _ in SERIES])
    slot = plot_w / len(buckets)
    bar = max(1.0, (slot - 2) / len(SERIES))
    parts = [f'<line x1="{left}" y1="{8 + plot_h}" x2="{width - 4}" y2="{8 + plot_h}" '
             'stroke="#555"/>',
             f'<text x="{left - 4}" y="14" text-anchor="end">{top}</text>',
             f'<text x="{left - 4}" y="{8 + plot_h}" text-anchor="end">0</text>']
    for i, bucket in enumerate(buckets):
        x = left + i * slot + 1
        for j, (key, label, colour) in enumerate(SERIES):
            h = plot_h * bucket[key] / top
            if bucket[key]:
                parts.append(f'<rect x="{x + j * bar:.1f}" y="{8 + plot_h - h:.1f}" '
                             f'width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                             f'<title>{bucket["hour"]:%H}:00 {label.lower()}: {bucket[key]}'
                             '</title></rect>')
        if i % 6 == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 4}">{bucket["hour"]:%H}:00</text>')
    totals = {key: sum(b[key] for b in buckets) for key, _, _ in SERIES}
    summary = ", ".join(f"{totals[key]} {label.lower()}" for key, label, _ in SERIES)
    return Markup(f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
                  f'aria-label="SMS in the last 24 hours (UTC): {escape(summary)}">'
                  + "".join(parts) + "</svg>")


def conversion_rows(rows: list[tuple[str, str | None, int, int]]) -> list[dict]:
    """(method, country, started, completed) rows with their conversion as a percent
    text, and a total row per method."""
    listed, totals = [], {}
    for method, country, started, completed in rows:
        listed.append({"method": method, "country": country or "?", "started": started,
                       "completed": completed, "conversion": _percent(completed, started)})
        total = totals.setdefault(method, [0, 0])
        total[0] += started
        total[1] += completed
    for method, (started, completed) in sorted(totals.items()):
        listed.append({"method": method, "country": "all", "started": started,
                       "completed": completed, "conversion": _percent(completed, started),
                       "total": True})
    return listed


def _percent(part: int, whole: int) -> str:
    return f"{min(part, whole) / whole:.0%}" if whole else "-"
