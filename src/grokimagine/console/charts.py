"""Charts drawn on the server as SVG geometry: the templates only place rectangles and lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Bar:
    """One day's bar: position, height and what its tooltip says."""

    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class DailyChart:
    """Bars for one series (left axis) and a line for another (right axis), per day."""

    width: int
    height: int
    bars: list[Bar]
    line: str  # SVG polyline points
    dots: list[tuple[float, float, str]]
    bar_max: int
    line_max: int
    first_day: str
    last_day: str
    bar_total: int
    line_total: int


PLOT_TOP = 12
PLOT_BOTTOM = 28


def _nice_max(value: float) -> int:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return step
    magnitude = 10 ** (len(str(int(value))) - 1)
    return int(-(-value // magnitude) * magnitude)


def daily_chart(
    per_day: dict[str, tuple[float, float]],
    *,
    days: int,
    today: date,
    bar_name: str,
    line_name: str,
    width: int = 720,
    height: int = 220,
) -> DailyChart:
    """A chart of ``days`` days ending ``today``; ``per_day`` maps ``YYYY-MM-DD`` to
    (bar value, line value); missing days count as zero."""
    dates = [today - timedelta(days=days - 1 - offset) for offset in range(days)]
    values = [per_day.get(day.isoformat(), (0, 0)) for day in dates]
    bar_max = _nice_max(max((bar for bar, _ in values), default=0))
    line_max = _nice_max(max((line for _, line in values), default=0))
    plot_height = height - PLOT_TOP - PLOT_BOTTOM
    slot = width / days
    bars, points, dots = [], [], []
    for index, (day, (bar, line)) in enumerate(zip(dates, values, strict=True)):
        bar_height = plot_height * bar / bar_max
        x = index * slot
        bars.append(
            Bar(
                x=round(x + slot * 0.15, 1),
                y=round(PLOT_TOP + plot_height - bar_height, 1),
                width=round(slot * 0.7, 1),
                height=round(bar_height, 1),
                label=f"{day.isoformat()}: {bar:g} {bar_name}, {line:g} {line_name}",
            )
        )
        cx = round(x + slot / 2, 1)
        cy = round(PLOT_TOP + plot_height - plot_height * line / line_max, 1)
        points.append(f"{cx},{cy}")
        dots.append((cx, cy, f"{day.isoformat()}: {line:g} {line_name}"))
    return DailyChart(
        width=width,
        height=height,
        bars=bars,
        line=" ".join(points),
        dots=dots,
        bar_max=bar_max,
        line_max=line_max,
        first_day=dates[0].strftime("%b %d"),
        last_day=dates[-1].strftime("%b %d"),
        bar_total=int(sum(bar for bar, _ in values)),
        line_total=int(sum(line for _, line in values)),
    )
