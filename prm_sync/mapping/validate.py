"""Every check a mapping file gets before a sync may use it.

Shape first (pydantic, per field so one bad field does not hide the rest),
then meaning: canonical entities and fields, remote objects and fields (from
a live describe when the CLI can reach the system, else the static lists in
``known_fields``), transforms and their params, directions, rules, duplicate
targets and type agreement. Every problem carries file, line, column and, when
one can be guessed, a "did you mean" hint; all are returned together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from connectors.base import FieldInfo
from prm_sync.errors import ConfigError, PrmSyncError, Problem
from prm_sync.mapping.field_checks import FieldChecker, effective_direction
from prm_sync.mapping.known_fields import known_fields, known_objects
from prm_sync.mapping.policies import check_policies
from prm_sync.mapping.spec import (
    FORMAT_VERSION,
    Defaults,
    FieldSpec,
    MappingFile,
    ObjectSpec,
    System,
    _Strict,
)
from prm_sync.model import ENTITIES
from prm_sync.yaml_source import Loc, YamlDocument, did_you_mean, load_yaml, validate_document

DescribeProvider = Callable[[str, str], list[FieldInfo]]


class _Header(_Strict):
    """The file minus its objects, which are validated one by one."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: str | None = Field(None, alias="$schema")
    version: int
    system: System
    defaults: Defaults = Field(default_factory=Defaults)
    objects: list[Any] = Field(min_length=1)


@dataclass
class ValidatedObject:
    """One object that passed its shape checks, with where it came from."""

    system: str
    spec: ObjectSpec
    default_rule: str
    doc: YamlDocument
    loc: Loc
    field_locs: list[Loc]
    remote_fields: dict[str, FieldInfo] | None


@dataclass
class ValidationResult:
    objects: list[ValidatedObject] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes, for the version hash


def expand_paths(paths: Iterable[Path] | Path) -> list[Path]:
    """Files as given, and ``*.yaml`` directly inside any directory given."""
    items = [paths] if isinstance(paths, Path | str) else list(paths)
    out: list[Path] = []
    for item in map(Path, items):
        out.extend(sorted(item.glob("*.yaml")) if item.is_dir() else [item])
    return out


class _RemoteCatalog:
    """Remote field lists: a live describe when given, else the static lists."""

    def __init__(self, describe_provider: DescribeProvider | None) -> None:
        self.describe_provider = describe_provider
        self.cache: dict[tuple[str, str], dict[str, FieldInfo] | None] = {}
        self.failures: dict[tuple[str, str], str] = {}

    def fields(self, system: str, remote_object: str) -> dict[str, FieldInfo] | None:
        key = (system, remote_object)
        if key not in self.cache:
            found: list[FieldInfo] | None = None
            if self.describe_provider is not None:
                try:
                    found = self.describe_provider(system, remote_object)
                except PrmSyncError as err:
                    self.failures[key] = str(err)
            if found is None:
                found = known_fields(system, remote_object)
            self.cache[key] = None if found is None else {f.name: f for f in found}
        return self.cache[key]


def validate_mapping_files(
    paths: Iterable[Path] | Path, describe_provider: DescribeProvider | None = None
) -> list[Problem]:
    """Every problem in the given mapping files (and directories of them)."""
    return check_mapping_files(paths, describe_provider).problems


def check_mapping_files(
    paths: Iterable[Path] | Path, describe_provider: DescribeProvider | None = None
) -> ValidationResult:
    """Validate files and keep the objects that passed, for compiling."""
    result = ValidationResult()
    catalog = _RemoteCatalog(describe_provider)
    files = expand_paths(paths)
    if not files:
        result.problems.append(Problem("no mapping files found", hint="pass mappings/ or a *.yaml file"))
    for path in files:
        try:
            doc = load_yaml(path)
            result.contents[path.name] = path.read_bytes()
        except ConfigError as err:
            result.problems.extend(err.problems)
            continue
        except OSError as err:
            result.problems.append(Problem(f"cannot read file: {err}", file=str(path)))
            continue
        _check_file(doc, catalog, result)
    _check_duplicate_objects(result)
    return result


def _check_file(doc: YamlDocument, catalog: _RemoteCatalog, result: ValidationResult) -> None:
    version = doc.get(("version",))
    if isinstance(version, int) and not isinstance(version, bool) and version != FORMAT_VERSION:
        result.problems.append(
            doc.problem(
                ("version",),
                f"unsupported mapping format version {version}",
                f"this prm-sync reads 'version: {FORMAT_VERSION}'",
            )
        )
        return
    header, problems = validate_document(_Header, doc)
    result.problems.extend(problems)
    if not isinstance(header, _Header):
        return
    for index, raw in enumerate(header.objects):
        _check_object(doc, header, index, raw, catalog, result)


def _check_object(
    doc: YamlDocument,
    header: _Header,
    index: int,
    raw: Any,
    catalog: _RemoteCatalog,
    result: ValidationResult,
) -> None:
    loc: Loc = ("objects", index)
    problems = result.problems
    if not isinstance(raw, dict):
        problems.append(
            doc.problem(loc, "each object should be a mapping with entity, remote_object, match, fields")
        )
        return
    raw_fields = raw.get("fields")
    kept: list[Any] = []
    field_locs: list[Loc] = []
    field_errors = False
    if isinstance(raw_fields, list):
        for j, raw_field in enumerate(raw_fields):
            _, field_problems = validate_document(
                FieldSpec, doc, loc_prefix=(*loc, "fields", j), value=raw_field
            )
            if field_problems:
                problems.extend(field_problems)
                field_errors = True
            else:
                kept.append(raw_field)
                field_locs.append((*loc, "fields", j))
    if field_errors and not kept:
        kept = [{"remote": "_"}]  # keep validating the object's own keys without a second complaint
    value = {**raw, "fields": kept} if isinstance(raw_fields, list) else raw
    spec, object_problems = validate_document(ObjectSpec, doc, loc_prefix=loc, value=value)
    problems.extend(object_problems)
    if not isinstance(spec, ObjectSpec) or (field_errors and not field_locs):
        return
    system = header.system
    if spec.entity not in ENTITIES:
        problems.append(
            doc.problem(
                (*loc, "entity"),
                f"unknown entity '{spec.entity}'",
                did_you_mean(spec.entity, ENTITIES) or "entities: " + ", ".join(sorted(ENTITIES)),
            )
        )
        return
    remote_fields = catalog.fields(system, spec.remote_object)
    if (system, spec.remote_object) in catalog.failures:
        problems.append(
            doc.problem(
                (*loc, "remote_object"),
                f"could not describe {system} {spec.remote_object}: {catalog.failures[(system, spec.remote_object)]}",
                "checked against the built-in field list instead",
            )
        )
    if remote_fields is None:
        problems.append(
            doc.problem(
                (*loc, "remote_object"),
                f"unknown {system} object '{spec.remote_object}'",
                did_you_mean(spec.remote_object, known_objects(system))
                or "known objects: " + ", ".join(known_objects(system)),
            )
        )
    live = catalog.describe_provider is not None and (system, spec.remote_object) not in catalog.failures
    checker = FieldChecker(
        doc, system, spec, header.defaults.rule, remote_fields, loc, field_locs, partial=field_errors, live=live
    )
    problems.extend(checker.check())
    problems.extend(check_policies(doc, spec, loc, remote_fields))
    result.objects.append(
        ValidatedObject(system, spec, header.defaults.rule, doc, loc, field_locs, remote_fields)
    )


def _check_duplicate_objects(result: ValidationResult) -> None:
    seen: dict[tuple[str, str], ValidatedObject] = {}
    for obj in result.objects:
        key = (obj.system, obj.spec.entity)
        if key in seen:
            first = seen[key]
            line, _ = first.doc.position((*first.loc, "entity"))
            result.problems.append(
                obj.doc.problem(
                    (*obj.loc, "entity"),
                    f"{obj.system} already maps entity '{obj.spec.entity}' ({first.doc.path.name} line {line})",
                    "keep one object per system and entity; put all its fields there",
                )
            )
        else:
            seen[key] = obj


__all__ = [
    "DescribeProvider",
    "MappingFile",
    "ValidatedObject",
    "ValidationResult",
    "check_mapping_files",
    "effective_direction",
    "expand_paths",
    "validate_mapping_files",
]
