"""The transform registry: what a transform is and the one table of them.

A transform is a small named function with a params model. It has two
halves: ``to_remote`` (canonical value -> remote value) and ``from_remote``
(remote value -> canonical value). A *codec* (value_map, date, lookup...) has
two different halves and is safe on a two-way field. A *derivation*
(domain_from_url, constant...) has one function used in whichever single
direction its field flows; it cannot be undone, so a two-way field using it
needs an explicit ``inverse``. Blank values (None) pass every transform
untouched except ``constant``: defaults are the field's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from prm_sync.mapping.context import MappingValueError, TransformContext

Fn = Callable[[Any, Any, TransformContext], Any]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    """This transform takes no parameters."""


@dataclass(frozen=True)
class Transform:
    """A registered transform; see the module docstring for the two halves."""

    name: str
    doc: str
    params: type[Params]
    to_remote: Fn | None
    from_remote: Fn | None
    two_way: bool  # usable on a `both` field without an explicit inverse
    shorthand: str | None = None  # `{name: scalar}` fills this params field
    inputs: Callable[[Any], list[str]] | None = None  # reads several source fields (value is then a dict)
    output_key: Callable[[Any, str], str] | None = None  # writes under another remote key
    round_trips: Callable[[Any], tuple[type, ...]] | None = None
    """PRM field types (for these params) whose value, written and read back, normalises unchanged.

    Lets the engine skip the read-back of such fields; ``tests/mapping`` checks
    every claim on sample values.
    """

    def parse_params(self, raw: Any) -> Any:
        """Params from YAML: None, a mapping, or a scalar for the shorthand field."""
        if raw is None:
            raw = {}
        elif not isinstance(raw, dict) and self.shorthand is not None:
            raw = {self.shorthand: raw}
        return self.params.model_validate(raw)


TRANSFORMS: dict[str, Transform] = {}


def register(
    name: str,
    doc: str,
    *,
    to_remote: Fn | None,
    from_remote: Fn | None,
    params: type[Params] = NoParams,
    two_way: bool,
    **extra: Any,
) -> None:
    TRANSFORMS[name] = Transform(name, doc, params, to_remote, from_remote, two_way, **extra)


def fail(message: str, value: Any) -> MappingValueError:
    return MappingValueError(message, value=value)


def text_value(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise fail(f"{name} expects text, got {type(value).__name__} {value!r}", value)
    return value


def transform_names() -> list[str]:
    return sorted(TRANSFORMS)


def split_ref(ref: Any) -> tuple[str | None, Any]:
    """``trim`` -> ("trim", None); ``{value_map: {...}}`` -> ("value_map", {...}); else (None, None)."""
    if isinstance(ref, str):
        return ref, None
    if isinstance(ref, dict) and len(ref) == 1:
        name, params = next(iter(ref.items()))
        return (name, params) if isinstance(name, str) else (None, None)
    return None, None
