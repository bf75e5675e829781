"""The shipped default mappings, their YAML tests and the JSON Schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from prm_sync.mapping.apply import MappingSet, load_mappings
from prm_sync.mapping.schema import mapping_json_schema
from prm_sync.mapping.testing import run_mapping_tests
from prm_sync.mapping.validate import validate_mapping_files
from prm_sync.yaml_source import load_yaml, loads_yaml

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
SHIPPED = sorted(MAPPINGS.glob("*.yaml"))


@pytest.fixture(scope="module")
def mappings() -> MappingSet:
    return load_mappings(MAPPINGS)


def test_shipped_mappings_validate_clean() -> None:
    assert [p.render() for p in validate_mapping_files(MAPPINGS)] == []


def test_shipped_mappings_cover_every_system(mappings: MappingSet) -> None:
    assert mappings.systems_for("partner") == ["erp", "hubspot", "salesforce"]
    assert mappings.systems_for("deal_registration") == ["hubspot", "salesforce"]
    assert mappings.for_entity("lms", "course_completion") is not None
    assert len(mappings.version) == 12


def test_shipped_yaml_tests_pass(mappings: MappingSet) -> None:
    report = run_mapping_tests(MAPPINGS / "tests", mappings)
    assert report.ok, report.render()
    tested = {(r.file, r.name) for r in report.results}
    assert len(tested) >= 25


def test_every_shipped_object_has_a_yaml_test(mappings: MappingSet) -> None:
    tests = [t for p in sorted((MAPPINGS / "tests").glob("*.yaml")) for t in load_yaml(p).data["tests"]]
    for (system, entity), mapping in mappings.objects.items():
        directions = {
            "prm" if "prm" in t["given"] else "remote"
            for t in tests
            if t["system"] == system and t["entity"] == entity
        }
        if mapping.writers:
            assert "prm" in directions, f"{system}:{entity} has no to_remote test"
        if mapping.readers:
            assert "remote" in directions, f"{system}:{entity} has no from_remote test"


def test_failing_yaml_test_shows_a_diff(tmp_path: Path, mappings: MappingSet) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "version: 1\ntests:\n  - name: wrong tier\n    system: salesforce\n    entity: partner\n"
        "    given: {prm: {id: p, name: A, tier: gold}}\n    expect: {remote: {Partner_Tier__c: Silver}}\n"
    )
    report = run_mapping_tests([path], mappings)
    assert not report.ok
    failed = report.failed[0]
    assert failed.line == 3
    assert '-  "Partner_Tier__c": "Silver"' in failed.diff
    assert '+  "Partner_Tier__c": "Gold"' in failed.diff


def test_every_shipped_file_has_the_schema_modeline() -> None:
    for path in SHIPPED:
        assert path.read_text().startswith("# yaml-language-server: $schema=./mapping.schema.json\n"), path


def test_written_schema_is_current() -> None:
    assert json.loads((MAPPINGS / "mapping.schema.json").read_text()) == mapping_json_schema()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_json_schema_accepts_shipped_file(path: Path) -> None:
    schema = mapping_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(load_yaml(path).data, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        pytest.param(
            lambda d: d["objects"][0]["fields"][0].update(directon="both"),
            "directon",
            id="misspelt-field-key",
        ),
        pytest.param(
            lambda d: d["objects"][0].update(remote_objekt="Account"),
            "remote_objekt",
            id="misspelt-object-key",
        ),
        pytest.param(
            lambda d: d["objects"][0]["fields"][0].update(transform="strip"), "strip", id="unknown-transform"
        ),
        pytest.param(
            lambda d: d["objects"][0]["fields"][0].update(direction="bth"), "bth", id="bad-direction"
        ),
    ],
)
def test_json_schema_rejects_mistakes(mutate: object, where: str) -> None:
    data = copy.deepcopy(load_yaml(MAPPINGS / "salesforce.yaml").data)
    mutate(data)  # type: ignore[operator]
    with pytest.raises(jsonschema.ValidationError) as info:
        jsonschema.validate(data, mapping_json_schema(), cls=jsonschema.Draft202012Validator)
    assert where in str(info.value)


def test_schema_knows_transform_params() -> None:
    doc = loads_yaml(
        "version: 1\nsystem: erp\nobjects:\n  - {entity: payout, remote_object: account.move, "
        "match: {remote_id: true}, fields: [{prm: amount, remote: amount_total, "
        "transform: {number: {placs: 2}}}]}\n"
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc.data, mapping_json_schema(), cls=jsonschema.Draft202012Validator)
