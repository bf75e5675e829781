"""Mapping tests RevOps write in YAML (``mappings/tests/*.yaml``) and ``prm-sync`` runs.

A test gives one record (as the PRM holds it, or as the remote sends it),
maps it through the loaded mappings, and compares a *subset* of the result
with what it expects, or expects a record-level error. Failures show a
unified diff so the person editing a value_map sees exactly what changed.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, TypeAdapter, ValidationError

from prm_sync.errors import ConfigError, Problem
from prm_sync.mapping.apply import MappingSet
from prm_sync.mapping.context import DictMappingContext, MappingValueError
from prm_sync.mapping.spec import System, _Strict
from prm_sync.mapping.validate import expand_paths
from prm_sync.mapping.values import _plain, same
from prm_sync.model import ENTITIES
from prm_sync.yaml_source import load_yaml, validate_document


class Given(_Strict):
    prm: dict[str, Any] | None = Field(None, description="a canonical record, mapped to_remote")
    remote: dict[str, Any] | None = Field(None, description="remote fields, mapped from_remote")


class Expect(_Strict):
    remote: dict[str, Any] | None = None
    prm: dict[str, Any] | None = None
    error: str | None = Field(None, description="a fragment of the expected record error")


class IdLink(_Strict):
    """An id the test's id map knows: this PRM record has this id in the test's system."""

    entity: str
    prm_id: str
    remote_id: str


class MappingTest(_Strict):
    name: str
    system: System
    entity: str
    ids: list[IdLink] = Field(default_factory=list)
    given: Given
    expect: Expect


class MappingTestFile(_Strict):
    version: int
    tests: list[MappingTest] = Field(min_length=1)


@dataclass
class MappingTestResult:
    name: str
    file: str
    line: int | None
    passed: bool
    message: str = ""
    diff: str = ""

    def render(self) -> str:
        head = f"{'PASS' if self.passed else 'FAIL'} {self.file}:{self.line} {self.name}"
        body = "\n".join(x for x in (self.message, self.diff) if x)
        return head if self.passed or not body else f"{head}\n{body}"


@dataclass
class TestReport:
    """Every test's outcome; ``ok`` when all passed."""

    __test__ = False  # not a pytest class

    results: list[MappingTestResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[MappingTestResult]:
        return [r for r in self.results if not r.passed]

    def render(self) -> str:
        lines = [r.render() for r in self.results]
        lines.append(f"{len(self.results) - len(self.failed)} passed, {len(self.failed)} failed")
        return "\n".join(lines)


def _coerce(entity: str, values: dict[str, Any]) -> dict[str, Any]:
    """YAML scalars -> the canonical field types (dates, Decimals), field by field."""
    model = ENTITIES[entity]
    out: dict[str, Any] = {}
    for name, value in values.items():
        info = model.model_fields.get(name)
        if info is None:
            msg = f"'{name}' is not a field of {entity}"
            raise ValueError(msg)
        out[name] = _plain_enum(TypeAdapter(info.annotation).validate_python(value))
    return out


def _plain_enum(value: Any) -> Any:
    return getattr(value, "value", value) if not isinstance(value, bool | int | float | str) else value


def _diff(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    shown = {k: actual.get(k, "<absent>") for k in expected}

    def dump(d: dict[str, Any]) -> list[str]:
        return json.dumps(_plain(d), indent=2, sort_keys=True, default=str).splitlines()

    return "\n".join(difflib.unified_diff(dump(expected), dump(shown), "expected", "actual", lineterm=""))


def _run_one(test: MappingTest, mappings: MappingSet) -> tuple[bool, str, str]:
    mapping = mappings.for_entity(test.system, test.entity)
    if mapping is None:
        return False, f"no {test.system} mapping for entity '{test.entity}'", ""
    ctx = DictMappingContext()
    for link in test.ids:
        ctx.add(link.entity, test.system, link.prm_id, link.remote_id)
    try:
        if test.given.prm is not None:
            actual = mapping.to_remote(_coerce(test.entity, test.given.prm), ctx)
            expected = test.expect.remote or {}
        else:
            actual = mapping.from_remote(test.given.remote or {}, ctx)
            expected = _coerce(test.entity, test.expect.prm or {})
    except MappingValueError as err:
        if test.expect.error is not None and test.expect.error.lower() in str(err).lower():
            return True, "", ""
        return False, f"record error: {err}", ""
    except (ValueError, ValidationError) as err:
        return False, f"bad test data: {err}", ""
    if test.expect.error is not None:
        return False, f"expected an error containing {test.expect.error!r}, but mapping succeeded", ""
    mismatched = [k for k, v in expected.items() if k not in actual or not same(actual[k], v)]
    if mismatched:
        return False, "mismatched: " + ", ".join(mismatched), _diff(expected, actual)
    return True, "", ""


def _check_shape(test: MappingTest) -> str | None:
    given = [k for k in ("prm", "remote") if getattr(test.given, k) is not None]
    expect = [k for k in ("prm", "remote", "error") if getattr(test.expect, k) is not None]
    if len(given) != 1:
        return "given needs exactly one of prm, remote"
    if len(expect) != 1:
        return "expect needs exactly one of prm, remote, error"
    if test.entity not in ENTITIES:
        return f"unknown entity '{test.entity}'"
    if (given[0], expect[0]) in (("prm", "prm"), ("remote", "remote")):
        return f"given {given[0]} maps to the other side: expect {'remote' if given[0] == 'prm' else 'prm'}"
    return None


def run_mapping_tests(test_paths: list[Path] | Path, mappings: MappingSet) -> TestReport:
    """Run every test in the files (or directories); raise ConfigError if a file is malformed."""
    report = TestReport()
    problems: list[Problem] = []
    for path in expand_paths(test_paths):
        try:
            doc = load_yaml(path)
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        spec, file_problems = validate_document(MappingTestFile, doc)
        problems.extend(file_problems)
        if not isinstance(spec, MappingTestFile):
            continue
        for index, test in enumerate(spec.tests):
            loc = ("tests", index)
            shape = _check_shape(test)
            if shape is not None:
                problems.append(doc.problem(loc, shape, "see mappings/tests/ for examples"))
                continue
            passed, message, diff = _run_one(test, mappings)
            line, _ = doc.position(loc)
            report.results.append(MappingTestResult(test.name, str(path), line, passed, message, diff))
    if problems:
        raise ConfigError(problems)
    return report
