"""The attempt counter behind login throttling and micro's rate limit: in memory and in Redis."""

from __future__ import annotations

import pytest

from app.services.accounts.throttle import Throttle


@pytest.mark.parametrize("where", ["memory", "redis"])
def test_a_key_over_its_limit_is_told_how_long_to_wait(full_app, where):
    client = full_app.extensions["redis"] if where == "redis" else None
    throttle = Throttle(3, 60, client)
    assert [throttle.hit("k") for _ in range(3)] == [0, 0, 0]
    assert 1 <= throttle.hit("k") <= 60
    assert throttle.hit("other") == 0  # each key has its own budget
