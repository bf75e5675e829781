"""CSV files people hand to prm-sync, read strictly: every problem named with its line, nothing guessed.

``conflicts check`` and ``import`` read spreadsheets exported by hand. A
lenient reader lets an unterminated quote swallow the rows after it, pads
short rows, and decodes Latin-1 as garbage (or crashes on it); here the
encoding is detected from a byte-order mark, else must be UTF-8, else is
declared with ``--encoding``; a quoting error stops the read at the record
where it starts; every row must have as many values as the header.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from prm_sync.errors import ConfigError, Problem
from prm_sync.files import read_at_most

MAX_CSV_BYTES = 256 * 1024 * 1024  # about two million registration rows
FIELD_LIMIT = csv.field_size_limit()  # 131,072 characters: no partner or registration field is longer
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: they share a prefix
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
]


@dataclass
class CsvTable:
    """The header, each data row with the line it starts on, and what was wrong."""

    path: Path
    header: list[str] = field(default_factory=list)
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def dicts(self) -> list[tuple[int, dict[str, str]]]:
        return [(line, dict(zip(self.header, values, strict=True))) for line, values in self.rows]


def _line_of(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def decode(path: Path, encoding: str | None = None) -> str:
    """The file's text: the declared encoding, else its byte-order mark's, else UTF-8; one clear problem otherwise."""
    try:
        data = read_at_most(path, MAX_CSV_BYTES)
    except OSError as exc:
        raise ConfigError([Problem(f"cannot read CSV: {exc.strerror or exc}", file=str(path))]) from None
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            msg = f"unknown encoding {encoding!r}"
            raise ConfigError([Problem(msg, hint="e.g. --encoding utf-8, latin-1, cp1252 or utf-16")]) from None
    else:
        encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
        if encoding is None and b"\x00" in data[:4096]:
            msg = "the file has NUL bytes: UTF-16 or UTF-32 without a byte-order mark?"
            raise ConfigError([Problem(msg, file=str(path), hint="pass --encoding utf-16-le (or save it as UTF-8)")])
    try:
        return data.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        name = encoding or "UTF-8"
        msg = f"not {name} text (byte 0x{data[exc.start]:02x} on line {_line_of(data, exc.start)})"
        hint = "save it as UTF-8, or declare its encoding, e.g. --encoding latin-1 or --encoding cp1252"
        raise ConfigError([Problem(msg, file=str(path), line=_line_of(data, exc.start), hint=hint)]) from None


def read_csv(path: Path, *, encoding: str | None = None) -> CsvTable:
    """Header and rows, strictly; problems collected (not raised) so a caller can add its own to them."""
    text = decode(path, encoding)
    table = CsvTable(path=path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            table.problems.append(Problem("the file is empty: a header row is needed", file=str(path), line=1))
            return table
        table.header = [h.strip() for h in header]
        while True:
            start = reader.line_num + 1  # where the next record begins (a quoted value may span lines)
            values = next(reader, None)
            if values is None:
                break
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(values) != len(table.header):
                what = "fewer" if len(values) < len(table.header) else "more"
                msg = f"{len(values)} values for {len(table.header)} columns ({what} than the header)"
                table.problems.append(Problem(msg, file=str(path), line=start))
                continue
            table.rows.append((start, values))
    except csv.Error as exc:
        table.problems.append(Problem(_csv_error(str(exc)), file=str(path), line=start,
                                      hint="the rest of the file was not read"))
    return table


def _csv_error(message: str) -> str:
    if "field larger than field limit" in message:
        return f"a value longer than {FIELD_LIMIT:,} characters"
    if "unexpected end of data" in message:
        return "unterminated quote: the quoted value starting in this record never ends"
    return f"malformed CSV: {message}"
