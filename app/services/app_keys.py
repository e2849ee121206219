"""Write and read keys: random, unguessable, the read key kept only as a hash."""

import hashlib
import secrets


def new_write_key() -> str:
    """A public write key: 160 random bits."""
    return secrets.token_hex(20)


def new_read_key() -> str:
    """A secret read key: 256 random bits, shown once."""
    return "rk_" + secrets.token_urlsafe(32)


def hash_read_key(read_key: str) -> str:
    """What is stored of a read key (sha256 is enough: the key itself is random)."""
    return hashlib.sha256(read_key.encode()).hexdigest()
