"""A blank passes every transform's ``from_remote`` half untouched.

The push's read-back (what the next read of a record we wrote will map to)
relies on it: a field written as null reads back as null without running
the transform. ``constant`` is the one exception, and its fields have no
PRM side to read into; multi-input transforms (``concat``) get a dict of
their inputs, never a bare blank.
"""

from __future__ import annotations

from typing import Any

import pytest

from prm_sync.mapping.context import TransformContext
from prm_sync.mapping.registry import TRANSFORMS

# the smallest valid params of each transform that needs some
PARAMS: dict[str, Any] = {
    "concat": {"fields": ["first_name", "last_name"]},
    "crm_ref": {"entity": "opportunity"},
    "first_of": {"fields": ["partner_prm_id", "associations.companies"], "lookup": {"associations.companies": "partner"}},
    "lookup": {"entity": "partner"},
    "split_name": {"part": "last"},
    "strip_prefix": {"prefix": "PRM-"},
    "sum": {"fields": ["amount", "clawback"]},
    "timezone": {"tz": "Europe/Berlin"},
    "truncate": {"length": 10},
    "value_map": {"values": {"gold": "Gold"}},
}
EXEMPT = {"constant"}  # a constant field has no PRM side


def test_every_transform_is_covered() -> None:
    needing = {n for n, t in TRANSFORMS.items() if any(f.is_required() for f in t.params.model_fields.values())}
    assert needing - EXEMPT - {"reference"} <= set(PARAMS), "add params for the new transform to PARAMS"


@pytest.mark.parametrize(
    "name", sorted(n for n, t in TRANSFORMS.items() if t.from_remote and t.inputs is None and n not in EXEMPT)
)
def test_from_remote_keeps_a_blank_blank(name: str) -> None:
    transform = TRANSFORMS[name]
    params = transform.parse_params(PARAMS.get(name))
    assert transform.from_remote(None, params, TransformContext("salesforce", None)) is None  # type: ignore[misc]
