"""Reading files a person names, bounded: a device such as ``/dev/zero`` or a wrong multi-gigabyte file never ends.

``Path.read_bytes`` reads until the end of the file; ``--config /dev/zero``
or ``--sandbox-state /dev/urandom`` would fill the memory first. Each caller
states how much its kind of file can sensibly hold. A device is refused before
a byte is read (reading ``/dev/zero`` up to a 256 MB CSV bound takes seconds
and the memory), and so is a regular file whose size already says it is too
large; a pipe (``<(...)``, ``/dev/stdin``) is read up to the bound.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from prm_sync.errors import ConfigError, Problem


def _too_large(path: Path, limit: int) -> ConfigError:
    return ConfigError([Problem(f"file is larger than {limit:,} bytes; is it the right file?", file=str(path))])


def read_at_most(path: Path, limit: int) -> bytes:
    """The file's bytes, or ``ConfigError`` when it is a device or holds more than ``limit``; ``OSError`` is the caller's."""
    with path.open("rb") as handle:
        found = os.fstat(handle.fileno())
        if stat.S_ISCHR(found.st_mode) or stat.S_ISBLK(found.st_mode):
            raise ConfigError([Problem("a device, not a file; is it the right file?", file=str(path))])
        if stat.S_ISREG(found.st_mode) and found.st_size > limit:
            raise _too_large(path, limit)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise _too_large(path, limit)
    return data
