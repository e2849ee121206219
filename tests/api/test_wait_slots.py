"""WaitSlots: the per-app and per-process caps on concurrent long-polls, and that every way out
of a wait (its end, an error inside it) gives the slot back."""

from __future__ import annotations

import threading

import pytest

from app.api.wait_slots import NoWaitSlot, WaitSlots
from stack.servers import wait_until


def test_one_app_takes_at_most_its_share():
    slots = WaitSlots(total=4, per_app=2)
    with slots.slot(1), slots.slot(1):
        with pytest.raises(NoWaitSlot) as refused:
            with slots.slot(1):
                pass
        assert refused.value.limit == 2 and "for this app" in refused.value.scope
        assert slots.in_use(1) == 2
        with slots.slot(2):  # another app still gets a slot
            assert slots.in_use() == 3


def test_all_apps_together_take_at_most_the_total():
    slots = WaitSlots(total=3, per_app=2)
    with slots.slot(1), slots.slot(2), slots.slot(3):
        for app_id in (1, 4):
            with pytest.raises(NoWaitSlot) as refused:
                with slots.slot(app_id):
                    pass
            assert refused.value.limit == 3 and "process" in refused.value.scope
        assert slots.in_use() == 3


def test_a_refused_wait_takes_nothing():
    slots = WaitSlots(total=1, per_app=1)
    with slots.slot(1):
        for _ in range(5):
            with pytest.raises(NoWaitSlot):
                with slots.slot(1):
                    pass
    assert slots.in_use() == 0 and slots.in_use(1) == 0


def test_a_finished_wait_gives_its_slot_back():
    slots = WaitSlots(total=1, per_app=1)
    with slots.slot(1):
        pass
    with slots.slot(2):
        assert slots.in_use() == 1
    assert slots.in_use() == 0


def test_a_wait_that_fails_gives_its_slot_back():
    slots = WaitSlots(total=1, per_app=1)
    with pytest.raises(RuntimeError):
        with slots.slot(1):
            raise RuntimeError("the database went away")
    assert slots.in_use() == 0
    with slots.slot(1):  # taken again at once
        assert slots.in_use(1) == 1


def test_many_threads_never_exceed_the_caps():
    slots = WaitSlots(total=3, per_app=2)
    start, release = threading.Barrier(30), threading.Event()
    peak = {"total": 0, 1: 0, 2: 0}
    lock = threading.Lock()
    taken = []

    def wait(app_id: int) -> None:
        start.wait()
        try:
            with slots.slot(app_id):
                with lock:
                    taken.append(app_id)
                    peak["total"] = max(peak["total"], slots.in_use())
                    peak[app_id] = max(peak[app_id], slots.in_use(app_id))
                release.wait()
        except NoWaitSlot:
            pass

    threads = [threading.Thread(target=wait, args=(1 + i % 2,), daemon=True) for i in range(30)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(taken) == 3, 10, "three waits holding slots")
    finally:
        release.set()
    for thread in threads:
        thread.join()
    assert peak["total"] == 3 and peak[1] <= 2 and peak[2] <= 2
    assert slots.in_use() == 0
