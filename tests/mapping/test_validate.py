"""Broken mapping files: each problem is found, located and explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import FieldInfo
from prm_sync.errors import ConfigError
from prm_sync.mapping.apply import load_mappings
from prm_sync.mapping.validate import validate_mapping_files

BROKEN = Path(__file__).parent / "broken"

CASES = [
    ("syntax_error", "YAML syntax error", 7),
    ("misspelled_key", "unknown key 'directon'", 8),
    ("unknown_entity", "unknown entity 'partners'", 4),
    ("unknown_canonical_field", "unknown field 'teir' of entity 'partner'", 9),
    ("unknown_remote_field", "unknown salesforce field 'Partner_Tier_c' on Account", 10),
    ("unknown_transform", "unknown transform 'strip'", 8),
    ("bad_transform_params", "transform 'datetime': invalid value 'soql' for 'format'", 12),
    (
        "non_invertible_two_way",
        "two-way field uses transform 'domain_from_url', which cannot be inverted",
        12,
    ),
    ("required_unsuppliable", "is required but direction 'to_remote' can never supply it", 10),
    ("duplicate_remote_target", "remote field 'Website' is written by two fields (first on line 9)", 10),
    ("wrong_version", "unsupported mapping format version 2", 2),
    ("type_mismatch", "type mismatch: partner.tier_grace_until is date but Account.IsPartner is boolean", 9),
    ("value_outside_picklist", "value 'Gld' is not in the picklist of Account.Partner_Tier__c", 13),
    ("duplicate_object", "hubspot already maps entity 'partner'", 9),
    ("unknown_system", "invalid value 'salesfroce' for 'system'", 2),
]

HINTS = {
    "misspelled_key": "did you mean 'direction'?",
    "unknown_entity": "did you mean 'partner'?",
    "unknown_canonical_field": "did you mean 'tier'?",
    "unknown_remote_field": "did you mean 'Partner_Tier__c'?",
    "unknown_transform": "did you mean 'trim'?",
    "value_outside_picklist": "did you mean 'Gold'?",
    "unknown_system": "did you mean 'salesforce'?",
}


@pytest.mark.parametrize(("name", "fragment", "line"), CASES, ids=[c[0].replace("_", "-") for c in CASES])
def test_broken_file_reports_problem_at_line(name: str, fragment: str, line: int) -> None:
    path = BROKEN / f"{name}.yaml"
    problems = validate_mapping_files([path])
    assert len(problems) == 1, [p.render() for p in problems]
    problem = problems[0]
    assert fragment in problem.message
    assert problem.line == line
    assert problem.column is not None
    assert problem.file == str(path)
    assert problem.hint
    if name in HINTS:
        assert problem.hint == HINTS[name]


def test_three_problems_are_reported_at_once() -> None:
    problems = validate_mapping_files([BROKEN / "three_problems.yaml"])
    assert [(p.line, p.message) for p in problems] == [
        (8, "unknown key 'directon'"),
        (9, "unknown field 'teir' of entity 'partner'"),
        (10, "unknown salesforce field 'Phnoe' on Account"),
    ]


def test_load_mappings_raises_every_problem_across_files() -> None:
    with pytest.raises(ConfigError) as info:
        load_mappings([BROKEN / "unknown_transform.yaml", BROKEN / "wrong_version.yaml"])
    assert len(info.value.problems) == 2
    assert "unknown_transform.yaml:8:35: unknown transform 'strip' (hint: did you mean 'trim'?)" in str(
        info.value
    )


def test_describe_provider_overrides_static_fields() -> None:
    def describe(system: str, remote_object: str) -> list[FieldInfo]:
        return [
            FieldInfo(name="Name", type="string"),
            FieldInfo(name="PRM_Id__c", type="string", external_id=True),
            FieldInfo(name="Partner_Level__c", type="picklist", picklist_values=["Gold"]),
        ]

    problems = validate_mapping_files([BROKEN / "unknown_remote_field.yaml"], describe_provider=describe)
    assert problems[0].hint == "did you mean 'Partner_Level__c'?"


def test_missing_mapping_file_is_a_problem(tmp_path: Path) -> None:
    problems = validate_mapping_files([tmp_path / "absent.yaml"])
    assert "file not found" in problems[0].message
