"""Reading files a person names, bounded: a device such as ``/dev/zero`` or a wrong multi-gigabyte file never ends.

``Path.read_bytes`` reads until the end of the file; ``--config /dev/zero``
or ``--sandbox-state /dev/urandom`` would fill the memory first. Each caller
states how much its kind of file can sensibly hold.
"""

from __future__ import annotations

from pathlib import Path

from prm_sync.errors import ConfigError, Problem


def read_at_most(path: Path, limit: int) -> bytes:
    """The file's bytes, or ``ConfigError`` when it holds more than ``limit``; ``OSError`` is the caller's."""
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        msg = f"file is larger than {limit:,} bytes; is it the right file?"
        raise ConfigError([Problem(msg, file=str(path))])
    return data
