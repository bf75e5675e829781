"""The mapping file format (``version: 1``) as pydantic models.

These models only check the *shape* of a file: keys, types and closed
vocabularies. Everything that needs outside knowledge (canonical entities,
remote fields, transform parameters) is checked in ``validate.py`` so that all
problems carry a position and a hint. Every model forbids unknown keys: a
misspelt ``directon`` must be an error, never a silently ignored default.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1

System = Literal["salesforce", "hubspot", "lms", "erp"]
Direction = Literal["to_remote", "from_remote", "both", "none"]
Rule = Literal["prefer_prm", "prefer_remote", "prefer_remote_unless_blank", "newest", "manual_review"]

SYSTEMS: tuple[str, ...] = ("salesforce", "hubspot", "lms", "erp")
DIRECTIONS: tuple[str, ...] = ("to_remote", "from_remote", "both", "none")
RULES: tuple[str, ...] = (
    "prefer_prm",
    "prefer_remote",
    "prefer_remote_unless_blank",
    "newest",
    "manual_review",
)

# a transform is written as a bare name (``trim``) or a one-key mapping (``{value_map: {...}}``)
TransformRef = str | dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Defaults(_Strict):
    """File-wide defaults, so each field need not repeat its conflict rule."""

    rule: Rule = Field("prefer_prm", description="conflict rule for two-way fields that name none")


class Match(_Strict):
    """How a canonical record finds its remote twin; exactly one key is set.

    ``external_id`` and ``id_property`` name the remote field that holds our id
    (upserts go through it); ``remote_id`` keys records by the system's own id
    (upserts then target ``Id``/``hs_object_id``/``id``, so write-back needs the
    remote id already known); ``natural_key`` lists canonical fields that
    identify a record read from a source we never write to.
    """

    external_id: str | None = Field(None, description="Salesforce external-id field holding our PRM id")
    id_property: str | None = Field(None, description="HubSpot property with hasUniqueValue holding our id")
    natural_key: list[str] | None = Field(None, description="canonical fields that identify the record")
    remote_id: bool = Field(False, description="key by the remote system's own record id")
    identify_by: list[list[str]] | None = Field(
        None,
        description=(
            "for records read without our id (born in the CRM, or an existing org being adopted): canonical "
            "fields that identify the PRM record, tried in order, e.g. [[domain], [name, country]]"
        ),
    )


class FieldSpec(_Strict):
    """One canonical field <-> one remote field."""

    prm: str | None = Field(None, description="canonical field; may be omitted for a to_remote constant")
    remote: str = Field(description="remote field (API name)")
    direction: Direction | None = Field(None, description="defaults to the object's direction")
    rule: Rule | None = Field(None, description="conflict rule when both sides changed (two-way fields only)")
    transform: TransformRef | None = Field(None, description="a transform name or {name: params}")
    inverse: TransformRef | None = Field(
        None,
        description="transform used when reading a two-way field back (defaults to the transform's own inverse)",
    )
    required: bool = Field(False, description="a blank value is an error for this record")
    default: Any = Field(None, description="value used when the source is blank")


OnUnmatched = Literal["adopt", "report", "ignore"]
ON_UNMATCHED: tuple[str, ...] = ("adopt", "report", "ignore")
DeleteAction = Literal["archive", "delete", "ignore"]


class MarkPolicy(_Strict):
    """``on_delete: {mark: {Partner_Status__c: Terminated}}``: keep the remote record, set these fields."""

    mark: dict[str, Any] = Field(min_length=1, description="remote field -> value written when the record goes")


class AssociationSpec(_Strict):
    """A link the connector must create beside the record (HubSpot v4 associations)."""

    prm: str = Field(description="canonical field holding the other record's PRM id")
    entity: str = Field(description="canonical entity of the other record")
    to_object: str = Field(description="remote object type of the other record, e.g. companies")
    label: str | None = Field(None, description="association label, when two links go to the same object type")


class ObjectSpec(_Strict):
    """One canonical entity <-> one remote object in this file's system."""

    entity: str = Field(description="canonical entity, e.g. partner")
    remote_object: str = Field(description="remote object, e.g. Account or companies")
    match: Match
    filter: str | list[Any] | dict[str, Any] | None = Field(
        None,
        description=(
            "records to include, in the system's own syntax: a SOQL WHERE clause (salesforce), "
            "a list of {propertyName, operator, value} (hubspot), an Odoo domain (erp), "
            "xAPI query parameters (lms)"
        ),
    )
    direction: Direction = Field("both", description="default direction of this object's fields")
    rule: Rule | None = Field(None, description="default conflict rule of this object's fields")
    fields: list[FieldSpec] = Field(min_length=1)
    associations: list[AssociationSpec] = Field(default_factory=list)
    on_unmatched: OnUnmatched = Field(
        "report",
        description=(
            "a remote record in this object's slice that carries no PRM id (created in the CRM): adopt it "
            "(match it by identify_by or create the PRM record, then write our id back), report it as "
            "unmatched, or ignore it"
        ),
    )
    on_delete: DeleteAction | MarkPolicy = Field(
        "ignore",
        description=(
            "what this system's copy becomes when the PRM record is deleted or deactivated, or was deleted "
            "in another system: archive (recoverable), delete (permanent), {mark: {field: value}}, or ignore"
        ),
    )


class MappingFile(_Strict):
    """A whole ``mappings/<system>.yaml`` file."""

    schema_: str | None = Field(None, alias="$schema", description="editor hint, ignored")
    version: int = Field(description="format version; this release reads 1")
    system: System
    defaults: Defaults = Field(default_factory=Defaults)
    objects: list[ObjectSpec] = Field(min_length=1)
