"""YAML files that remember where every key came from.

Every file a person edits (mappings, ``config/prm_sync.yaml``, mapping tests)
is loaded here so that any complaint about it can point at a line and a
column. The data handed to callers is plain dicts, lists and scalars; the
positions live beside it in :class:`YamlDocument`, keyed by the path of keys
and indexes that leads to a value. Pydantic validation errors are turned into
:class:`~prm_sync.errors.Problem` objects at those positions, with a hint
("did you mean 'direction'?") wherever one can be guessed.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
    ScalarEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from prm_sync.errors import ConfigError, Problem
from prm_sync.files import read_at_most

Loc = tuple[str | int, ...]

# what a hand-edited config or mapping file never needs; hostile files (a "billion laughs" of aliases,
# 5,000-deep nesting, 5,000-digit numbers) are refused before anything is built from them
MAX_FILE_BYTES = 2_000_000
MAX_DEPTH = 64
MAX_VALUES = 200_000  # scalars and collections once every alias is expanded
MAX_NUMBER_DIGITS = 40
_NUMBER = re.compile(r"[-+]?(0x|0o|0b)?[0-9_a-fA-F]+(\.[0-9_]*)?([eE][-+]?[0-9]+)?")


@dataclass
class YamlDocument:
    """A loaded YAML file: plain data plus the 1-based position of every key and item."""

    path: Path
    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def position(self, loc: Loc) -> tuple[int | None, int | None]:
        """Line and column of ``loc``'s key, or of the nearest parent that exists.

        Validation errors often point at a key that is *missing*; the nearest
        existing parent is then the most useful place to send the reader.
        """
        probe = tuple(loc)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return (1, 1) if self.data is not None else (None, None)

    def get(self, loc: Loc, default: Any = None) -> Any:
        """The value at ``loc``, or ``default`` when any step is absent."""
        node = self.data
        for part in loc:
            if _has(node, part):
                node = node[part]
            else:
                return default
        return node

    def problem(self, loc: Loc, message: str, hint: str | None = None) -> Problem:
        """A problem located at ``loc`` in this file."""
        line, column = self.position(loc)
        return Problem(message, file=str(self.path), line=line, column=column, hint=hint)


def _has(node: Any, part: str | int) -> bool:
    """Whether ``node[part]`` exists (a key of a dict or an index of a list)."""
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _mark_problem(path: Path, err: MarkedYAMLError, what: str) -> Problem:
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    detail = err.problem or err.context or str(err)
    hint = "check indentation, unclosed quotes or brackets, and that every key is followed by ': '"
    if "tab" in str(detail).lower():
        hint = "YAML does not allow tabs for indentation; use spaces"
    return Problem(f"{what}: {detail}", file=str(path), line=line, column=column, hint=hint)


def _duplicates(path: Path, node: Node | None) -> list[Problem]:
    """Every repeated key in every mapping of the composed node tree."""
    problems: list[Problem] = []
    if node is None:
        return problems
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in current.value:
                key = getattr(key_node, "value", None)
                if isinstance(key, str | int | float | bool) and key in seen:
                    problems.append(
                        Problem(
                            f"duplicate key '{key}' (first defined on line {seen[key]})",
                            file=str(path),
                            line=key_node.start_mark.line + 1,
                            column=key_node.start_mark.column + 1,
                            hint="remove one of them; YAML keeps only one value per key",
                        )
                    )
                elif isinstance(key, str | int | float | bool):
                    seen[key] = key_node.start_mark.line + 1
                stack.append(value_node)
        elif isinstance(current, SequenceNode):
            stack.extend(current.value)
    return problems


def _plain(value: Any, loc: Loc, positions: dict[Loc, tuple[int, int]]) -> Any:
    """Round-trip containers to plain ones, recording each key's position."""
    if isinstance(value, CommentedMap):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            key_plain = key if isinstance(key, str | int | bool | float) or key is None else str(key)
            try:
                line, column = value.lc.key(key)
                positions[(*loc, key_plain)] = (line + 1, column + 1)
            except (KeyError, TypeError):
                pass  # keys that arrive through merge (<<) have no position of their own
            out[key_plain] = _plain(item, (*loc, key_plain), positions)
        return out
    if isinstance(value, CommentedSeq):
        items: list[Any] = []
        for index, item in enumerate(value):
            try:
                line, column = value.lc.item(index)
                positions[(*loc, index)] = (line + 1, column + 1)
            except (KeyError, TypeError):
                pass
            items.append(_plain(item, (*loc, index), positions))
        return items
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        return str(value)
    return value


def load_yaml(path: Path | str) -> YamlDocument:
    """Load ``path`` keeping positions; raise ``ConfigError`` for anything unreadable.

    Missing files, syntax errors and duplicate keys all become problems with a
    line and column; duplicate keys are collected together so one run shows
    them all.
    """
    path = Path(path)
    try:
        text = read_at_most(path, MAX_FILE_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                Problem(
                    f"file not found: {path}", file=str(path), hint="check the path and the working directory"
                )
            ]
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([Problem(f"cannot read file: {err}", file=str(path))]) from None
    return loads_yaml(text, path)


def loads_yaml(text: str, path: Path | str = "<string>") -> YamlDocument:
    """Like :func:`load_yaml` for text already in memory (tests, stdin)."""
    path = Path(path)
    yaml = _yaml()
    try:
        _check_bounds(yaml, text, path)
        loaded = yaml.load(text)
    except DuplicateKeyError:
        try:
            node = _yaml().compose(text)
        except YAMLError:
            node = None
        raise ConfigError(_duplicates(path, node)) from None
    except MarkedYAMLError as err:
        raise ConfigError([_mark_problem(path, err, "YAML syntax error")]) from None
    except YAMLError as err:
        raise ConfigError([Problem(f"YAML syntax error: {err}", file=str(path))]) from None
    positions: dict[Loc, tuple[int, int]] = {}
    data = _plain(loaded, (), positions)
    return YamlDocument(path=path, data=data, positions=positions)


def _bounds_problem(path: Path, event: Any, message: str, hint: str) -> ConfigError:
    mark = getattr(event, "start_mark", None)
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return ConfigError([Problem(message, file=str(path), line=line, column=column, hint=hint)])


def _check_bounds(yaml: YAML, text: str, path: Path) -> None:
    """Refuse nesting, alias expansion and numbers no real file has, from the event stream alone.

    The parser's events cost memory in proportion to the text; building the
    data would not (aliases of aliases grow exponentially, the composer
    recurses once per level, ``int()`` refuses past 4,300 digits). Each
    collection's expanded size is counted as it closes and remembered under
    its anchor, so an alias adds what it stands for without expanding it.
    """
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError([Problem(f"text is larger than {MAX_FILE_BYTES:,} characters", file=str(path))])
    sizes: list[int] = [0]
    anchors: dict[str, int] = {}
    starts: list[Any] = []
    for event in yaml.parse(text):
        if isinstance(event, CollectionStartEvent):
            starts.append(event)
            sizes.append(1)
            if len(starts) > MAX_DEPTH:
                msg = f"values nest more than {MAX_DEPTH} levels deep"
                raise _bounds_problem(path, event, msg, "a config or mapping file needs a few levels at most")
            continue
        if isinstance(event, CollectionEndEvent):
            start = starts.pop()
            size = sizes.pop()
        elif isinstance(event, AliasEvent):
            size = anchors.get(str(event.anchor), 1)
        elif isinstance(event, ScalarEvent):
            size = 1
            value = event.value or ""
            if event.style is None and len(value) > MAX_NUMBER_DIGITS and _NUMBER.fullmatch(value):
                msg = f"a number with {len(value):,} digits; at most {MAX_NUMBER_DIGITS} are accepted"
                raise _bounds_problem(path, event, msg, "quote it if it is meant as text")
            start = event
        else:
            continue
        if isinstance(start, NodeEvent) and start.anchor and not isinstance(event, AliasEvent):
            anchors[str(start.anchor)] = size
        sizes[-1] += size
        if sizes[-1] > MAX_VALUES:
            msg = f"aliases expand to more than {MAX_VALUES:,} values (a \"billion laughs\" file?)"
            raise _bounds_problem(path, event, msg, "write the values out, or use fewer nested aliases")


# --- pydantic errors -> problems -------------------------------------------------


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word``, phrased as a hint, if any is close."""
    options = [c for c in choices if isinstance(c, str)]
    if not options or not isinstance(word, str):
        return None
    lowered = {c.lower(): c for c in options}
    if word.lower() in lowered:
        return f"did you mean '{lowered[word.lower()]}'?"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        close = [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)]
    return f"did you mean '{close[0]}'?" if close else None


def _keys_of(annotation: Any) -> list[type[BaseModel]]:
    """Models reachable from an annotation at the same level (unwrapping unions)."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            found.extend(_keys_of(arg))
        return found
    if origin is typing.Annotated:
        return _keys_of(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _step(annotation: Any, part: str | int) -> list[Any]:
    """Annotations one step down ``part`` from ``annotation``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return [a for arg in args for a in _step(arg, part)]
    if origin is typing.Annotated:
        return _step(args[0], part)
    if isinstance(part, int) and origin in (list, tuple, set, frozenset) and args:
        return [args[0]]
    if isinstance(part, str) and origin is dict and len(args) == 2:
        return [args[1]]
    if isinstance(part, str) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return [info.annotation]
    return []


def _field_names_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys a model allows at ``loc`` (for did-you-mean on an unknown key)."""
    current: list[Any] = [model]
    for part in loc:
        current = [a for ann in current for a in _step(ann, part)]
    names: list[str] = []
    for ann in current:
        for sub in _keys_of(ann):
            for name, info in sub.model_fields.items():
                names.append(info.alias or name)
    return names


def _doc_loc(data: Any, loc: Loc) -> Loc:
    """Drop the parts of a pydantic loc that are union tags, not real keys."""
    real: list[str | int] = []
    node = data
    for part in loc:
        if _has(node, part):
            real.append(part)
            node = node[part]
        elif isinstance(node, dict | list):
            # a missing key is still part of the location; a union tag is not
            if isinstance(node, dict) and isinstance(part, str) and not _looks_like_tag(part):
                real.append(part)
            node = None
        else:
            node = None
    return tuple(real)


def _looks_like_tag(part: str) -> bool:
    return any(ch in part for ch in "[]()") or part in {"str", "int", "float", "bool", "list", "dict", "none"}


def _describe_type(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _where(loc: Loc) -> str:
    for part in reversed(loc):
        if isinstance(part, str):
            return f"'{part}'"
    return "value"


def _error_to_problem(
    doc: YamlDocument, model: type[BaseModel], prefix: Loc, data: Any, error: Any
) -> Problem:
    raw_loc: Loc = tuple(error["loc"])
    rel = _doc_loc(data, raw_loc)
    full = (*prefix, *rel)
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = rel[-1] if rel else "?"
        allowed = _field_names_at(model, rel[:-1])
        hint = did_you_mean(str(key), allowed)
        if hint is None and allowed:
            hint = "allowed keys here: " + ", ".join(sorted(allowed))
        return doc.problem(full, f"unknown key '{key}'", hint)
    if kind == "missing":
        key = raw_loc[-1] if raw_loc else "?"
        return doc.problem(
            full[:-1] if full and full[-1] == key else full,
            f"missing required key '{key}'",
            f"add '{key}: ...' here",
        )
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", ""))
        options = [o.strip().strip("'\"") for o in expected.replace(" or ", ", ").split(",") if o.strip()]
        hint = did_you_mean(str(value), options) if isinstance(value, str) else None
        return doc.problem(
            full,
            f"invalid value {value!r} for {_where(rel)}: expected one of {expected}",
            hint or f"use one of {expected}",
        )
    if kind.endswith("_type") or kind.endswith("_parsing") or kind in ("model_attributes_type",):
        expected = error["msg"].removeprefix("Input should be ").removeprefix("a valid ")
        return doc.problem(
            full,
            f"{_where(rel)} should be {expected}, got {_describe_type(value)}",
            f"write {_where(rel)} as {expected}",
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    return doc.problem(full, f"{_where(rel)}: {message}", None)


_FROM_DOC: Any = object()


def validate_document(
    model: type[BaseModel], doc: YamlDocument, *, loc_prefix: Loc = (), value: Any = _FROM_DOC
) -> tuple[BaseModel | None, list[Problem]]:
    """Validate the value at ``loc_prefix`` in ``doc`` against ``model``.

    Returns the model (or None) and every problem, each placed at the line and
    column of the offending key, so one pass reports everything wrong.
    ``value`` replaces the data at ``loc_prefix`` (a pre-filtered copy, or
    params in shorthand form) while positions still come from ``doc``.
    """
    data = doc.get(loc_prefix) if value is _FROM_DOC else value
    if data is None and not loc_prefix:
        return None, [
            Problem(
                "the file is empty",
                file=str(doc.path),
                line=1,
                column=1,
                hint="see the documented example for the keys this file needs",
            )
        ]
    try:
        return model.model_validate(data), []
    except ValidationError as err:
        problems: list[Problem] = []
        seen: set[tuple[Any, ...]] = set()
        for entry in err.errors(include_url=False):
            problem = _error_to_problem(doc, model, tuple(loc_prefix), data, entry)
            key = (problem.line, problem.column, problem.message)
            if key not in seen:
                seen.add(key)
                problems.append(problem)
        return None, problems
