"""Files of the local data folder that only their owner may read (0600; folders 0700).

The micro profile's data folder holds the database, the demo app's read key, queued events and
mailed sign-up codes. Each is made private where it is created, and made private again on
start when an older version left it readable by others.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> None:
    """Create `path` (and its parents) if needed; only its owner may enter it."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    path.chmod(FOLDER_MODE)


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner may read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), FILE_MODE)  # O_CREAT's mode applies to new files only
        f.write(text)


def private_sqlite(uri: str) -> None:
    """Create an SQLite database file private before SQLite opens it; SQLite gives its -wal
    and -shm files the same mode."""
    database = make_url(uri).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # an empty file is an empty database
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if file.exists():
            file.chmod(FILE_MODE)
