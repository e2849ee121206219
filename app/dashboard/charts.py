"""Geometry of the overview's SVG charts, computed here so the template only draws shapes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from app.services.statistics.overview import Bucket
from app.validation.verdict import STATUSES

WIDTH, HEIGHT, PAD = 900, 180, 24  # viewBox units; the SVG scales to its container


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    status: str
    title: str


def label(at: datetime, minutes: int) -> str:
    """A bar's time as its resolution shows it (minutes only for minute bars)."""
    if minutes < 60:
        return f"{at:%Y-%m-%d %H:%M}"
    return f"{at:%Y-%m-%d}" if minutes >= 24 * 60 else f"{at:%Y-%m-%d %H:00}"


def _step(bars: list[Bucket]) -> float:
    return (WIDTH - 2 * PAD) / max(len(bars), 1)


def volume_bars(bars: list[Bucket]) -> tuple[list[Rect], int]:
    """Stacked bars, one per bucket (valid at the bottom), and the tallest bar's count."""
    top = max((b.total for b in bars), default=0) or 1
    step, rects = _step(bars), []
    for index, bar in enumerate(bars):
        y = HEIGHT - PAD
        for status in STATUSES:
            count = getattr(bar, status)
            if not count:
                continue
            height = (HEIGHT - 2 * PAD) * count / top
            y -= height
            title = f"{label(bar.start, bar.minutes)} UTC · {count} {status}"
            # At minute resolution bars are ~2 units wide: a 1-unit gap would halve them.
            width = step - 1 if step > 4 else step
            rects.append(Rect(PAD + index * step, y, max(width, 0.5), height, status, title))
    return rects, top


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


def _indexed_points(bars: list[Bucket]) -> Iterator[tuple[int, Point]]:
    step = _step(bars)
    for index, bar in enumerate(bars):
        if bar.failing_share is not None:
            x = PAD + index * step + step / 2
            y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * bar.failing_share
            title = f"{label(bar.start, bar.minutes)} UTC · {bar.failing_share:.1%} failing"
            yield index, Point(x, y, title)


def share_points(bars: list[Bucket]) -> list[Point]:
    """The failing share (0 to 100 %) of each bucket with events."""
    return [point for _, point in _indexed_points(bars)]


def share_lines(bars: list[Bucket]) -> list[list[Point]]:
    """The share's points in runs of neighbouring buckets with events: a line across buckets
    without events would draw a share nobody measured."""
    lines: list[list[Point]] = []
    previous = None
    for index, point in _indexed_points(bars):
        if previous != index - 1:
            lines.append([])
        lines[-1].append(point)
        previous = index
    return lines


@dataclass(frozen=True)
class Marker:
    x: float
    version: int
    title: str
    when: str  # for the legend
    row: int = 0  # the label's line: markers close together stack their labels


def publish_markers(bars: list[Bucket], publishes: list[tuple[int, datetime]]) -> list[Marker]:
    """A vertical line where each plan version was published, at its time within its bar."""
    if not bars:
        return []
    start, end = bars[0].start, bars[-1].end
    span = (end - start).total_seconds()
    markers = []
    for version, at in publishes:
        if start <= at < end:
            x = PAD + (WIDTH - 2 * PAD) * (at - start).total_seconds() / span
            title = f"Plan v{version} published {at:%Y-%m-%d %H:%M:%S} UTC"
            close = markers and x - markers[-1].x < 24
            row = (markers[-1].row + 1) % 4 if close else 0
            markers.append(Marker(x, version, title, f"{at:%m-%d %H:%M}", row))
    return markers
