"""Query parameters the API and the pages read alike: whole numbers within bounds, and the
largest ids a row can have."""

from __future__ import annotations

from flask import request

from app.errors import ApiError

# The largest id a row can have (a PostgreSQL integer): a larger one names nothing, and the
# databases would refuse to compare it rather than find no row.
MAX_ID = 2**31 - 1
# The largest row id of a BIGINT column: a larger one names nothing (and would not bind).
MAX_BIG_ID = 2**63 - 1
MAX_INT_DIGITS = 30  # far above any bound here; int() of thousands of digits is refused anyway


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """The query parameter `name` as a whole number in [low, high], or `default`; 400 else."""
    value = request.args.get(name)
    if value is None:
        return default
    # int() would also take "+3", " 3", "1_0" and other scripts' digits ("٣"): ASCII digits only.
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_INT_DIGITS:
        raise ApiError(400, "invalid_parameter", f"{name} must be a whole number in digits 0-9.")
    number = int(value)
    if not low <= number <= high:
        raise ApiError(400, "invalid_parameter", f"{name} must be between {low} and {high}.")
    return number
