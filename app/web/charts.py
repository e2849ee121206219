"""Geometry of the overview's SVG charts, computed here so the template only draws shapes."""

from __future__ import annotations

from dataclasses import dataclass

from app.services.overview import STATUSES, HourCounts

WIDTH, HEIGHT, PAD = 900, 180, 24  # viewBox units; the SVG scales to its container


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    status: str
    title: str


def _step(hours: list[HourCounts]) -> float:
    return (WIDTH - 2 * PAD) / max(len(hours), 1)


def volume_bars(hours: list[HourCounts]) -> tuple[list[Rect], int]:
    """Stacked bars, one per hour (valid at the bottom), and the tallest bar's count."""
    top = max((h.total for h in hours), default=0) or 1
    step, rects = _step(hours), []
    for index, hour in enumerate(hours):
        y = HEIGHT - PAD
        for status in STATUSES:
            count = getattr(hour, status)
            if not count:
                continue
            height = (HEIGHT - 2 * PAD) * count / top
            y -= height
            title = f"{hour.hour:%Y-%m-%d %H:00} UTC · {count} {status}"
            rects.append(Rect(PAD + index * step, y, max(step - 1, 1), height, status, title))
    return rects, top


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


def share_points(hours: list[HourCounts]) -> list[Point]:
    """The failing share (0 to 100 %) of each hour with events."""
    step, points = _step(hours), []
    for index, hour in enumerate(hours):
        if hour.failing_share is not None:
            x = PAD + index * step + step / 2
            y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * hour.failing_share
            title = f"{hour.hour:%Y-%m-%d %H:00} UTC · {hour.failing_share:.1%} failing"
            points.append(Point(x, y, title))
    return points
