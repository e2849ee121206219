"""`python -m loadtests.retention` at a small scale, so it cannot rot: both layouts are built
and loaded, and one day of events goes from each, the same rows."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from loadtests.retention import DAYS, report, run


@pytest.mark.system
def test_one_day_goes_from_both_layouts():
    events = 3000
    # Not pytest's tmp_path: PostgreSQL runs as its own user when we are root, as the command.
    work = Path(tempfile.mkdtemp(prefix="partitions-retention-test-"))
    os.chmod(work, 0o755)
    try:
        old, new = run(work, events=events, rounds=1, insert_rows=100)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    day = events // DAYS
    assert [rows for _, _, rows in old.drop] == [day]
    assert [rows for _, _, rows in new.drop] == [day]
    assert len(old.vacuum) == 1
    assert [rows for _, _, rows in old.insert] == [100]
    assert [rows for _, _, rows in new.insert] == [100]
    assert "drop one day (round 1): rows | 100 | 100 |" in report(old, new, events)
