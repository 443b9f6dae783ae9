"""Files and folders only the service account may read: the database, its WAL and shared
memory, the generated keys and the encrypted attachments.

What govbot creates it creates private (folders 0700, files 0600), whatever the umask;
what already exists it leaves alone but names in a warning at start, because tightening an
operator's own layout (a backup group, a shared mount) is theirs to decide.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
_warned: set[Path] = set()  # each path once per process: start-up checks it from several places


def private_dir(path: Path, *, check: bool = True) -> Path:
    """Create `path` (0700) if missing; warn if an existing one is open to others.

    Missing parents are created with the default mode: they may be shared folders
    (/srv, a home), and only the last one is ours. `check=False` on hot paths (each
    attachment's folder): the start-up check has spoken already.
    """
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process won the race: check theirs below
            pass
        else:
            os.chmod(path, DIR_MODE)
            return path
    if check:
        warn_if_open(path)
    return path


def private_file(path: Path) -> Path:
    """Create an empty `path` (0600) if missing; warn if an existing one is open to others.

    SQLite gives a database's -wal and -shm files the database file's mode, so creating
    the (empty, valid) database file 0600 first keeps all three private.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        warn_if_open(path)
    else:
        os.close(fd)
    return path


def warn_if_open(path: Path) -> bool:
    """Log a warning if group or others may read, write or enter `path`; True if so."""
    if os.name != "posix":
        return False
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return False
    if not mode & 0o077 or path in _warned:
        return False
    _warned.add(path)
    wanted = DIR_MODE if path.is_dir() else FILE_MODE
    log.warning("%s is open to other users (mode %o); chmod %o it", path, mode, wanted)
    return True
