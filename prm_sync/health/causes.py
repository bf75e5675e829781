"""Failed records grouped by cause, each cause explained: field, value, allowed values, what to do.

Remote systems explain a refusal in their own dialect: HubSpot nests a JSON
list of property problems inside its message, Salesforce names the field in
``fields`` and the value in prose. ``parse_error`` reads both into one
``ErrorDetail`` ("status: 'approved' is not one of submitted, under_review,
won, lost"); ``group_failures`` puts the failures with the same system,
object, error code and field together, as HubSpot's sync-health page does,
so 300 records refused for one missing picklist value are one line, not 300.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from prm_sync.store.failures import FailedRecord

MAX_VALUE = 60

# HubSpot's list of property problems; the connector puts the call before it ("batch upsert: Property values...")
_HUBSPOT_LIST = re.compile(r"(?:^|: )Property values were not valid: (\[.*\])\s*$", re.S)
_NOT_ONE_OF = re.compile(r"^(?P<value>.*?) was not one of the allowed options: \[(?P<options>.*)\]\s*$", re.S)
_OPTION_VALUE = re.compile(r'value: "((?:[^"\\]|\\.)*)"')
_PICKLIST = re.compile(r"bad value for restricted picklist field: (?P<value>.*)$", re.S)
_NO_COLUMN = re.compile(r"No such column '(?P<field>[^']+)'")
_NO_PROPERTY = re.compile(r'Property "(?P<field>[^"]+)" does not exist')
_REQUIRED = re.compile(r"Required fields are missing: \[(?P<fields>[^\]]*)\]")
_RULE_VALUE = re.compile(r"value '(?P<value>.*)' is rejected")
_TOO_LONG = re.compile(r"data value too large: (?P<value>.*) \(max length=(?P<max>\d+)\)")
_NOT_VALID_FOR = re.compile(r"^(?P<value>.*?) is not a valid value for (?P<field>[\w.]+)\.?$", re.S)
_NOT_VALID = re.compile(r"^(?P<value>.*?) was not a valid (?P<kind>[\w\s\d]+?)\.?$", re.S)
_FOREIGN_KEY = re.compile(r"Foreign key external ID: (?P<value>\S+) not found for field (?P<key>\S+) in entity (?P<target>\w+)")

PICKLIST_CODES = frozenset({"INVALID_OPTION", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "BAD_PICKLIST_VALUE"})

# error code -> what fixes it, in words an admin acts on (the next command is added per group)
GUIDANCE: dict[str, str] = {
    "INVALID_OPTION": "the value is not one of the property's options: add the option in HubSpot, or map the "
    "value with a `value_map` in the mapping file",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": "the value is not in the field's picklist: add it in Salesforce "
    "(Object Manager > field > Values), or map the value with a `value_map` in the mapping file",
    "INVALID_FIELD": "the CRM has no such field: create it (`prm-sync setup`) or remove it from the mapping",
    "PROPERTY_DOESNT_EXIST": "the CRM has no such property: create it (`prm-sync setup`) or remove it from the mapping",
    "REQUIRED_FIELD_MISSING": "a required field is empty: fill it in the PRM record, or give the mapping a default",
    "STRING_TOO_LONG": "the value is longer than the field allows: shorten it, or map it through a truncating "
    "transform",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "a validation rule in Salesforce refused the value: correct the data, or "
    "ask the Salesforce admin about the rule",
    "DUPLICATE_VALUE": "another record already holds this unique value: merge the duplicates, then replay",
    "CONFLICT": "another record already holds this unique value: merge the duplicates, then replay",
    "INVALID_VALUE": "HubSpot refused the value for this property (its type, format or a validation rule on it): "
    "correct the value in the PRM record, or check the property's settings in HubSpot",
    "INVALID_EMAIL_ADDRESS": "the e-mail address is malformed: correct it in the PRM record",
    "INVALID_EMAIL": "the e-mail address is malformed: correct it in the PRM record",
    "INVALID_DATE": "the date is not in a format the CRM accepts: correct the value or the mapping's date transform",
    "INVALID_FLOAT": "the value is not a number: correct the value or the mapping's transform",
    "VALUE_OUT_OF_RANGE": "the value is outside what the field or the PRM store can hold (an amount past its "
    "digits, a date outside 1700-4000 for Salesforce): correct it where it was entered",
    "NUMBER_OUTSIDE_VALID_RANGE": "the number has more digits than the Salesforce field allows (its precision "
    "and scale): correct the value, or widen the field in Salesforce",
    "FIELD_INTEGRITY_EXCEPTION": "Salesforce refused the value for this field (a date outside 1700-01-01 to "
    "4000-12-31, a reference of the wrong type): correct the value",
    "INVALID_RECORD": "the record does not pass the PRM model's validation: correct the value in the source system",
    "MappingValueError": "the mapping cannot convert the value: correct the data or the mapping (`prm-sync "
    "mappings test`)",
    "ASSOCIATION_FAILED": "the record was written but its associations were refused: check the associated "
    "records exist, then replay",
    "WRITE_FAILED": "the remote refused the record without a reason: look at the record in the CRM",
}
# a kind of problem beats its code: Salesforce says INVALID_FIELD both for a missing field and a missing parent
GUIDANCE_BY_KIND: dict[str, str] = {
    "missing_parent": "the record it points to is not in the CRM (its own write failed or is still pending): fix "
    "that one first; replaying both sends parents first",
    "missing_field": GUIDANCE["INVALID_FIELD"],
    "picklist": GUIDANCE["INVALID_OPTION"],
}
DEFAULT_GUIDANCE = "fix the cause in the data, the mapping or the CRM's configuration, then replay"


class ErrorDetail(BaseModel):
    """A remote error read into what is wrong with which field."""

    field: str | None = None  # the remote field (or the PRM field, for map failures)
    value: str | None = None
    allowed: list[str] = Field(default_factory=list)
    problem: str  # the one readable line
    kind: str = "other"  # picklist, missing_field, missing_parent, required, too_long, validation_rule, invalid_value

    def with_allowed(self, allowed: list[str]) -> ErrorDetail:
        if not allowed or self.allowed:
            return self
        return self.model_copy(update={"allowed": allowed, "problem": _problem(self.field, self.value, allowed, None)})


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _where(field: str | None) -> str:
    return f"{field}: " if field else ""


def _problem(field: str | None, value: str | None, allowed: list[str], reason: str | None) -> str:
    where = _where(field)
    if allowed:
        return f"{where}'{value}' is not one of {', '.join(allowed)}"
    return f"{where}{reason}" if reason else f"{where}'{value}' was refused"


def _hubspot_details(message: str) -> list[dict[str, Any]]:
    match = _HUBSPOT_LIST.search(message)
    if not match:
        return []
    try:
        details = json.loads(match.group(1))
    except ValueError:
        return []
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _options(text: str) -> list[str]:
    """HubSpot lists options as protobuf text (``label: "A" value: "a" ...``) or, shortened, ``a, b, c``."""
    quoted = _OPTION_VALUE.findall(text)
    if quoted:
        return [q.replace('\\"', '"') for q in quoted]
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_error(code: str, message: str, fields: Iterable[str] = (), payload: dict[str, Any] | None = None) -> ErrorDetail:
    """What a remote (or the mapping) said, as field, value, allowed values and one line a person reads."""
    fields = list(fields)
    field = fields[0] if fields else None
    payload = payload or {}
    details = _hubspot_details(message)
    if details:
        first = _hubspot_detail(details[0], code, field, payload)
        others = [str(d.get("name")) for d in details[1:] if d.get("name")]
        if not others:
            return first
        return first.model_copy(update={"problem": f"{first.problem} (also refused: {', '.join(others)})"})
    return _parse_plain(code, message, field, payload)


def _not_one_of(text: str, field: str | None) -> ErrorDetail | None:
    """``X was not one of the allowed options: [...]``, in HubSpot's property list or on its own."""
    options = _NOT_ONE_OF.match(text)
    if not options:
        return None
    value, allowed = _short(options.group("value")), _options(options.group("options"))
    return ErrorDetail(field=field, value=value, allowed=allowed, kind="picklist", problem=_problem(field, value, allowed, None))


def _hubspot_detail(detail: dict[str, Any], code: str, field: str | None, payload: dict[str, Any]) -> ErrorDetail:
    """One entry of HubSpot's ``Property values were not valid`` list."""
    name = str(detail.get("name") or field or "") or None
    text = str(detail.get("message") or "")
    sub_code = str(detail.get("error") or code)
    options = _not_one_of(text, name)
    if options:
        return options
    missing = _NO_PROPERTY.search(text)
    if missing or sub_code == "PROPERTY_DOESNT_EXIST":
        name = missing.group("field") if missing else name
        return ErrorDetail(field=name, kind="missing_field", problem=f"{name}: the property does not exist in HubSpot")
    invalid_for = _NOT_VALID_FOR.match(text)
    if invalid_for:
        value = _short(invalid_for.group("value"))
        return ErrorDetail(field=name, value=value, kind="invalid_value", problem=f"{_where(name)}'{value}' is not a valid value")
    invalid = _NOT_VALID.match(text)
    if invalid:
        value = _short(invalid.group("value"))
        return ErrorDetail(field=name, value=value, kind="invalid_value",
                           problem=f"{_where(name)}'{value}' is not a valid {invalid.group('kind')}")
    return ErrorDetail(field=name, value=_short(payload.get(name or "")), problem=f"{_where(name)}{text or sub_code}")


def _parse_plain(code: str, message: str, field: str | None, payload: dict[str, Any]) -> ErrorDetail:
    """Salesforce's prose (and any message that is not HubSpot's property list)."""
    options = _not_one_of(message, field)
    if options:
        return options
    picklist = _PICKLIST.search(message)
    if picklist:
        value = _short(picklist.group("value").strip())
        return ErrorDetail(field=field, value=value, kind="picklist",
                           problem=_problem(field, value, [], f"'{value}' is not in the picklist"))
    parent = _FOREIGN_KEY.search(message)
    if parent:
        value = _short(parent.group("value"))
        return ErrorDetail(field=field, value=value, kind="missing_parent",
                           problem=f"{_where(field)}no {parent.group('target')} with {parent.group('key')} = {value} in the CRM")
    column = _NO_COLUMN.search(message) or _NO_PROPERTY.search(message)
    if column:
        name = column.group("field")
        return ErrorDetail(field=name, kind="missing_field", problem=f"{name}: no such field in the CRM")
    required = _REQUIRED.search(message)
    if required:
        names = [n.strip() for n in required.group("fields").split(",") if n.strip()]
        return ErrorDetail(field=names[0] if names else field, kind="required",
                           problem=f"required and empty: {', '.join(names)}")
    too_long = _TOO_LONG.search(message)
    if too_long:
        value = _short(too_long.group("value"))
        return ErrorDetail(field=field, value=value, kind="too_long",
                           problem=f"{_where(field)}longer than {too_long.group('max')} characters")
    rule = _RULE_VALUE.search(message)
    if rule:
        value = _short(rule.group("value"))
        return ErrorDetail(field=field, value=value, kind="validation_rule",
                           problem=f"{_where(field)}'{value}' is refused by a validation rule")
    value = _short(payload.get(field)) if field else None
    reason = message.split(": ", 1)[1] if field and message.startswith(f"{field}: ") else message
    return ErrorDetail(field=field, value=value, problem=_problem(field, value, [], _short_reason(reason or code)))


def _short_reason(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FailureExample(BaseModel):
    id: int
    record: str
    message: str
    url: str | None = None


class FailureGroup(BaseModel):
    """Open failures with one cause: same system, object, error code and field."""

    system: str
    remote_object: str
    entity: str | None
    error_code: str
    field: str | None
    problem: str  # the example's readable line
    kind: str
    count: int
    first_seen: datetime
    last_seen: datetime
    operations: list[str]
    values: dict[str, int] = Field(default_factory=dict)  # the refused values and how often
    allowed: list[str] = Field(default_factory=list)
    ids: list[int] = Field(default_factory=list)
    example: FailureExample
    guidance: str
    next_steps: list[str] = Field(default_factory=list)


def detail_of(failure: FailedRecord) -> ErrorDetail:
    return parse_error(failure.error_code, failure.error_message, failure.error_fields, failure.payload)


def group_failures(
    failures: Iterable[FailedRecord],
    *,
    url_for: Callable[[FailedRecord], str | None] | None = None,
    prm_field_for: Callable[[FailedRecord, str], str | None] | None = None,
    allowed_for: Callable[[FailedRecord, str], list[str]] | None = None,
) -> list[FailureGroup]:
    """Group failures by cause, biggest first; each group with its example, guidance and next commands.

    ``url_for`` links a failure to its CRM record, ``prm_field_for`` names the
    PRM field a remote field comes from (for ``failures fix --set``), and
    ``allowed_for`` supplies allowed values the error text left out (a
    Salesforce picklist); each may be omitted.
    """
    buckets: dict[tuple[str, str, str, str | None], list[tuple[FailedRecord, ErrorDetail]]] = {}
    for failure in failures:
        detail = detail_of(failure)
        key = (failure.system, failure.remote_object, failure.error_code, detail.field)
        buckets.setdefault(key, []).append((failure, detail))
    groups: list[FailureGroup] = []
    for (system, remote_object, code, field), members in buckets.items():
        members.sort(key=lambda m: (m[0].last_seen, m[0].id), reverse=True)
        latest, detail = members[0]
        if field and code in PICKLIST_CODES and allowed_for is not None:
            detail = detail.with_allowed(allowed_for(latest, field))
        values = Counter(d.value for _f, d in members if d.value is not None)
        group = FailureGroup(
            system=system, remote_object=remote_object, entity=latest.entity, error_code=code, field=field,
            problem=detail.problem, count=len(members),
            first_seen=min(f.first_seen for f, _d in members), last_seen=max(f.last_seen for f, _d in members),
            operations=sorted({str(f.operation) for f, _d in members}), values=dict(values.most_common(10)),
            allowed=detail.allowed, ids=sorted(f.id for f, _d in members),
            example=FailureExample(id=latest.id, record=latest.record_key, message=latest.error_message,
                                   url=url_for(latest) if url_for else None),
            kind=detail.kind, guidance=GUIDANCE_BY_KIND.get(detail.kind) or GUIDANCE.get(code, DEFAULT_GUIDANCE),
        )
        group.next_steps = next_steps(group, latest, prm_field_for)
        groups.append(group)
    groups.sort(key=lambda g: (-g.count, g.system, g.remote_object, g.error_code))
    return groups


def next_steps(
    group: FailureGroup, example: FailedRecord, prm_field_for: Callable[[FailedRecord, str], str | None] | None
) -> list[str]:
    """The commands an admin runs next for this cause, most specific first."""
    steps = [f"prm-sync failures show {example.id}"]
    pushed = str(example.operation) != "read"  # a read failure is keyed by the remote id, the rest by the PRM id
    prm_field = None
    if pushed and group.field:
        prm_field = prm_field_for(example, group.field) if prm_field_for else None
        if prm_field is None and str(example.operation) == "map":
            prm_field = group.field
    if group.kind == "missing_parent":
        steps.append(f"prm-sync failures --system {group.system}   # the parent's own failure comes first")
    elif prm_field and group.kind != "missing_field":
        steps.append(f"prm-sync failures fix {example.id} --set {prm_field}=VALUE")
    elif not pushed:
        steps.append(f"fix the record in {group.system}, then: prm-sync failures replay {example.id}")
    if group.kind == "missing_field":
        steps.append("prm-sync validate --remote")
    scope = f"--system {group.system} --object {group.remote_object} --error-code {group.error_code}"
    steps.append(f"prm-sync failures replay {scope} --dry-run")
    return steps
