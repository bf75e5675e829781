"""Salesforce-shaped record ids: key prefix, base-62 counter, 18-character checksum.

Real ids are 15 case-sensitive characters plus a 3-character suffix that
encodes the case of the first 15, so that case-insensitive tools can keep
them apart. The sandbox issues 18-character ids and accepts either form.
The counter uses the ASCII-ordered alphabet, so ids sort in creation order.
"""

from __future__ import annotations

import re

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SHAPE = re.compile(r"[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?")
POD = "8d"  # fixed "instance" characters after the key prefix


def checksum(id15: str) -> str:
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix += _SUFFIX[bits]
    return suffix


def make_id(prefix: str, counter: int) -> str:
    digits = ""
    n = counter
    while n:
        n, rem = divmod(n, 62)
        digits = _BASE62[rem] + digits
    body = digits.rjust(15 - len(prefix) - len(POD), "0")
    id15 = prefix + POD + body
    return id15 + checksum(id15)


def normalise_id(value: object) -> str | None:
    """The 18-character form of a well-formed id, else None (the caller reports MALFORMED_ID)."""
    if not isinstance(value, str) or not _SHAPE.fullmatch(value):
        return None
    id15 = value[:15]
    full = id15 + checksum(id15)
    if len(value) == 18 and value.upper() != full.upper():
        return None
    return full
