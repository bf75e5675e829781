"""JSON Schema of the mapping format, for editors (yaml-language-server).

Generated from the pydantic models, then tightened where YAML allows more
than the models say: a transform is a known name, or a one-key mapping from
a known name to that transform's params. Editors can then complete transform
names and flag a misspelt key as you type; ``prm-sync validate`` still does
the checks a schema cannot (remote fields, canonical fields, types).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prm_sync.mapping.registry import TRANSFORMS
from prm_sync.mapping.spec import MappingFile
from prm_sync.mapping.transforms import transform_names

SCHEMA_ID = "https://prm-sync.dev/schemas/mapping-v1.json"


def _transform_schema(defs: dict[str, Any]) -> dict[str, Any]:
    """A name, or {name: params} with each transform's own params schema."""
    by_name: dict[str, Any] = {}
    for name in transform_names():
        transform = TRANSFORMS[name]
        params = transform.params.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(params.pop("$defs", {}))
        params.pop("title", None)
        if transform.shorthand is not None:
            params = {"anyOf": [params, {"not": {"type": ["object", "array"]}}]}
        elif not params.get("properties"):
            params = {"anyOf": [params, {"type": "null"}]}
        by_name[name] = {"description": transform.doc, **params}
    return {
        "anyOf": [
            {"type": "string", "enum": transform_names()},
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": by_name,
                "additionalProperties": False,
            },
        ],
        "description": "a transform name, or {name: params}",
    }


def mapping_json_schema() -> dict[str, Any]:
    """The mapping file JSON Schema (draft 2020-12)."""
    schema = MappingFile.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    transform = _transform_schema(defs)
    field_props = defs["FieldSpec"]["properties"]
    field_props["transform"] = transform
    field_props["inverse"] = {**transform, "description": "transform used when reading a two-way field back"}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "prm-sync mapping file"
    schema["properties"]["version"] = {"const": 1, "description": "format version"}
    return schema


def schema_text() -> str:
    """The schema as pretty JSON (the shipped copy is mappings/mapping.schema.json)."""
    return json.dumps(mapping_json_schema(), indent=2, sort_keys=False) + "\n"


def write_schema(path: Path) -> Path:
    """Write :func:`schema_text` to ``path``."""
    path.write_text(schema_text(), encoding="utf-8")
    return path
