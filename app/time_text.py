"""How the JSON API writes a time: ISO 8601 with `Z` for UTC (the stored times are UTC)."""

from __future__ import annotations

from datetime import datetime


def iso_z(value: datetime | None) -> str | None:
    """`value` as ISO 8601 text ending in `Z`, or None for no time."""
    return value.isoformat().replace("+00:00", "Z") if value else None
