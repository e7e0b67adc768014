"""Writing files so that a crash never leaves half of one."""

import os
import tempfile
from pathlib import Path


def atomic_write(path, write, *, mode: int = 0o644) -> Path:
    """Have ``write(tmp)`` fill a temporary file beside ``path``, flush it to disk, then rename it
    over ``path``. A crash, or an exception from ``write``, leaves the old file (or none), never a
    partial one, and no temporary file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes files private; these are ordinary files
        os.replace(tmp, path)  # atomic on POSIX and Windows
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
