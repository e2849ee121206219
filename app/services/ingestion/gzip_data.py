"""Gzip inflation with a cap on what it unpacks, so a gzip bomb costs nothing.

One inflater for request bodies (all at once) and imported files (a piece at a time); either
may hold any number of gzip members, as RFC 1952 allows and gzip(1) and HTTP clients read (a
client that compresses as it writes may start a new member per write); `subject` names the
data in error messages ("body", "file").
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from app.errors import ServiceError

GZIP_MAGIC = b"\x1f\x8b"
PIECE = 1 << 20  # bytes read (or unpacked) at a time


class OverLimit(Exception):
    """The data unpacks to more than the limit (each caller says so in its own words)."""


def inflate(
    data: bytes, limit: int, subject: str, *, members: bool = False, piece: int = PIECE
) -> Iterator[bytes]:
    """The unpacked bytes a piece at a time. OverLimit past `limit` bytes; ServiceError
    `invalid` for data that is not gzip, is truncated, or (unless `members`) goes on after its
    first member. With `members`, further members are unpacked too and NUL padding after the
    last is allowed, as gzip(1) does."""
    rest, unpacked = data, 0
    try:
        while True:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            offset = 0
            while not inflater.eof:
                if offset >= len(rest) and not inflater.unconsumed_tail:
                    raise ServiceError("invalid", "invalid_gzip", "The gzip data is truncated.")
                if inflater.unconsumed_tail:
                    out = inflater.decompress(inflater.unconsumed_tail, piece)
                else:
                    out = inflater.decompress(rest[offset : offset + piece], piece)
                    offset += piece
                unpacked += len(out)
                if unpacked > limit:
                    raise OverLimit()
                yield out
            rest = inflater.unused_data + rest[offset:]
            if not members:
                if rest:
                    raise ServiceError(
                        "invalid", "invalid_gzip", "There are bytes after the end of the gzip data."
                    )
                return
            if not rest.strip(b"\0"):
                return
    except zlib.error as exc:
        raise ServiceError(
            "invalid", "invalid_gzip", f"The {subject} is not valid gzip data ({exc})."
        )


def gunzip_capped(data: bytes, limit: int) -> bytes:
    """A gzip request body inflated whole, every member of it, at most `limit` bytes
    (ServiceError 413 beyond)."""
    try:
        return b"".join(inflate(data, limit, "body", members=True))
    except OverLimit:
        raise ServiceError(
            "too_large",
            "payload_too_large",
            f"The decompressed body is over the {limit}-byte limit.",
        )
