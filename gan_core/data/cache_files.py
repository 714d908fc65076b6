"""Writing a derived-data cache file (rendered emoji, pix2pix edge drawings): whole or not at all.

A cache is a convenience: a folder that cannot be written (read-only data, a full disk) is no
error, the caller keeps what it computed. The file appears under its name only once complete
(temp file + rename), so a reader never sees half of one, and is as readable as the data it
came from (``mkstemp`` makes files private).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def write_cache_file(path: Path, write: Callable[[BinaryIO], None]) -> bool:
    """Call ``write(f)`` on a temp file beside ``path``, then rename it to ``path``.
    False (and no temp file left behind) when the folder cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        return True
    except OSError:
        return False
    finally:  # whatever stopped the write (a full disk, an interrupt), no half file stays;
        Path(tmp).unlink(missing_ok=True)  # after the rename there is nothing to remove
