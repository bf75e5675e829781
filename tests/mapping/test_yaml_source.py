"""YAML loading with positions, and pydantic errors turned into located problems."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict

from prm_sync.errors import ConfigError
from prm_sync.yaml_source import did_you_mean, load_yaml, loads_yaml, validate_document


class Field(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prm: str
    remote: str
    direction: Literal["to_remote", "from_remote", "both", "none"] = "both"
    required: bool = False


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    fields: list[Field]


def test_positions_are_one_based_and_point_at_keys() -> None:
    doc = loads_yaml("version: 1\nfields:\n  - prm: name\n    remote: Name\n")
    assert doc.data == {"version": 1, "fields": [{"prm": "name", "remote": "Name"}]}
    assert doc.position(("version",)) == (1, 1)
    assert doc.position(("fields", 0, "remote")) == (4, 5)


def test_position_falls_back_to_nearest_parent() -> None:
    doc = loads_yaml("version: 1\nfields:\n  - prm: name\n")
    assert doc.position(("fields", 0, "remote")) == (3, 5)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(tmp_path / "nope.yaml")
    assert "file not found" in info.value.problems[0].message


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(ConfigError) as info:
        loads_yaml("version: 1\nfields: [a, b\nother: 2\n", "x.yaml")
    problem = info.value.problems[0]
    assert problem.message.startswith("YAML syntax error")
    assert problem.line == 3
    assert problem.hint


def test_every_duplicate_key_is_reported() -> None:
    with pytest.raises(ConfigError) as info:
        loads_yaml("a: 1\nb: 2\na: 3\nc:\n  d: 1\n  d: 2\n", "x.yaml")
    lines = sorted(p.line for p in info.value.problems if p.line is not None)
    assert lines == [3, 6]
    assert all("duplicate key" in p.message for p in info.value.problems)


def _problems(text: str) -> list[str]:
    doc = loads_yaml(text, "doc.yaml")
    model, problems = validate_document(Doc, doc)
    assert model is None
    return [f"{p.line}:{p.column} {p.message} | {p.hint}" for p in problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "version: 1\nfields:\n  - {prm: a, remote: B, directon: both}\n",
            "3:25 unknown key 'directon' | did you mean 'direction'?",
            id="unknown-key-did-you-mean",
        ),
        pytest.param(
            "version: 1\nfields:\n  - prm: a\n",
            "3:5 missing required key 'remote'",
            id="missing-key-at-parent",
        ),
        pytest.param(
            "version: 1\nfields:\n  - {prm: a, remote: B, direction: bth}\n",
            "invalid value 'bth' for 'direction': expected one of",
            id="literal-lists-allowed-values",
        ),
        pytest.param(
            "version: one\nfields: []\n",
            "1:1 'version' should be integer",
            id="type-error-says-expected-type",
        ),
        pytest.param(
            "version: 1\nfields: {prm: a}\n",
            "2:1 'fields' should be list",
            id="mapping-where-list-expected",
        ),
    ],
)
def test_validation_errors_become_located_problems(text: str, expected: str) -> None:
    rendered = _problems(text)
    assert any(r.startswith(expected) or expected in r for r in rendered), rendered


def test_all_errors_are_collected() -> None:
    rendered = _problems("versoin: 1\nfields:\n  - {prm: a}\n  - {prm: b, remote: c, required: maybe}\n")
    assert len(rendered) == 4, rendered  # unknown versoin, missing version, missing remote, bad bool


def test_loc_prefix_validates_a_sub_document() -> None:
    doc = loads_yaml("outer:\n  version: 1\n  fields:\n    - {prm: a, remote: b, extra: 1}\n", "d.yaml")
    _, problems = validate_document(Doc, doc, loc_prefix=("outer",))
    assert [(p.line, p.message) for p in problems] == [(4, "unknown key 'extra'")]


def test_valid_document_returns_model() -> None:
    doc = loads_yaml("version: 1\nfields:\n  - {prm: a, remote: b}\n")
    model, problems = validate_document(Doc, doc)
    assert problems == []
    assert isinstance(model, Doc)


def test_did_you_mean_ignores_case_and_far_words() -> None:
    assert did_you_mean("partner_tier__C", ["Partner_Tier__c"]) == "did you mean 'Partner_Tier__c'?"
    assert did_you_mean("zzz", ["Partner_Tier__c"]) is None
