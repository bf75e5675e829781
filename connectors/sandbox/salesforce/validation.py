"""Field validation on write, with the API's error codes and messages.

Two kinds of failure, as in the real API:

* ``RequestError`` — the body cannot be deserialised (unknown field, a value of
  the wrong JSON type, an impossible date). The REST API rejects the whole
  request with 400 before touching any record, collections included.
* per-record errors (``[{"statusCode", "message", "fields"}]``) — required,
  length, restricted picklist, read-only, bad reference, custom validation.
  These fail one record; its neighbours in a batch carry on.

Bulk API rows arrive as CSV text, so there type errors are per-record too
(``source="csv"``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from connectors.sandbox.salesforce.ids import normalise_id
from connectors.sandbox.salesforce.schema import NUMBER_TYPES, STRING_TYPES, FieldDef, ObjectDef

Source = Literal["json", "csv"]
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class RequestError(Exception):
    """The whole request is refused: becomes ``[{"message","errorCode","fields"}]``."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []
        self.status = status

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            item["fields"] = self.fields
        return [item]


def record_error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields or []}


class _TypeProblem(Exception):
    pass


class Lookups(Protocol):
    """What validation needs from the record store."""

    objects: dict[str, ObjectDef]

    def reference_state(self, object_name: str, record_id: str) -> str | None: ...  # "live", "deleted", None

    def find_external(self, object_name: str, field_name: str, value: Any) -> list[str]: ...

    def object_of_id(self, record_id: str) -> str | None: ...


def format_datetime(value: datetime) -> str:
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return f"{value.year:04d}-{value:%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}+0000"


# "Only dates within a certain range are valid": 1700-01-01 to 4000-12-31 (SOQL and SOSL reference,
# Date Formats and Date Literals); a well-formed date outside it fails its record
FIRST_YEAR, LAST_YEAR = 1700, 4000


def parse_datetime(text: str) -> datetime:
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    if re.search(r"[+-]\d{4}$", cleaned):
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    value = datetime.fromisoformat(cleaned)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _convert(fdef: FieldDef, value: Any, source: Source) -> Any:
    """JSON or CSV value -> stored value; raises _TypeProblem naming the JSON type."""
    t = fdef.type
    if t in STRING_TYPES or t in {"id", "reference"}:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _TypeProblem(_json_kind(value))
        return str(value)
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0"}:
            return value.lower() in {"true", "1"}
        raise _TypeProblem(_json_kind(value))
    if t in NUMBER_TYPES:
        if isinstance(value, bool):
            raise _TypeProblem("VALUE_TRUE" if value else "VALUE_FALSE")
        if isinstance(value, int | float):
            return value if t != "int" else int(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise _TypeProblem("VALUE_STRING") from None
            if not math.isfinite(number):
                raise _TypeProblem("VALUE_STRING")
            return int(number) if t == "int" or (number.is_integer() and "." not in value) else number
        raise _TypeProblem(_json_kind(value))
    if t == "date":
        if not isinstance(value, str):
            raise _TypeProblem(_json_kind(value))
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise _TypeProblem("VALUE_STRING") from None
    if t == "datetime":
        if not isinstance(value, str):
            raise _TypeProblem(_json_kind(value))
        try:
            return format_datetime(parse_datetime(value))
        except ValueError:
            raise _TypeProblem("VALUE_STRING") from None
    return value


def _java_double(value: float) -> str:
    """A number as Java's ``Double.toString`` prints it in Salesforce's messages (``1.0E30``)."""
    mantissa, _, exponent = f"{float(value):.16e}".partition("e")
    mantissa = mantissa.rstrip("0")
    return f"{mantissa}0E{int(exponent)}" if mantissa.endswith(".") else f"{mantissa}E{int(exponent)}"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, int | float):
        return "VALUE_NUMBER_INT" if isinstance(value, int) else "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_NULL"


_SF_TYPE_NAMES = {"currency": "double", "percent": "double", "datetime": "datetime", "reference": "id"}


@dataclass
class Validator:
    """Validates one record's payload against its object; holds no state of its own."""

    obj: ObjectDef
    lookups: Lookups
    custom_rule: Callable[[str, Any], bool]  # (field, value) -> True when a validation rule rejects it

    def clean(
        self,
        payload: dict[str, Any],
        *,
        creating: bool,
        source: Source = "json",
        key_field: str | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Return (stored values, per-record errors). Raises RequestError on deserialisation failures."""
        values: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        read_only: list[str] = []
        for raw_name, raw_value in payload.items():
            if raw_name == "attributes" or (raw_name == "Id" and not creating):
                continue
            fdef = self.obj.get_field(raw_name)
            if fdef is None:
                rel = raw_name.split(".")[0]
                if rel.endswith("__r") or self.obj.relationship(rel) is not None:
                    error = self._relationship(raw_name, raw_value, values, source)
                    if error:
                        errors.append(error)
                    continue
                msg = f"No such column '{raw_name}' on sobject of type {self.obj.name}"
                if source == "csv":
                    errors.append(record_error("INVALID_FIELD", msg, [raw_name]))
                    continue
                raise RequestError("INVALID_FIELD", msg)
            if source == "csv" and raw_value == "":
                continue  # bulk: an empty cell leaves the field alone (#N/A clears it)
            if source == "csv" and raw_value == "#N/A":
                raw_value = None
            if not (fdef.createable if creating else fdef.updateable):
                if fdef.name != key_field:
                    read_only.append(fdef.name)
                continue
            if raw_value is None:
                values[fdef.name] = None
                continue
            try:
                values[fdef.name] = _convert(fdef, raw_value, source)
            except _TypeProblem as problem:
                sf_type = _SF_TYPE_NAMES.get(fdef.type, fdef.type)
                if source == "csv":
                    msg = f"{fdef.name}: value not of required type: {raw_value}"
                    errors.append(record_error("INVALID_TYPE_ON_FIELD_IN_RECORD", msg, [fdef.name]))
                    continue
                msg = (
                    f"Cannot deserialize instance of {sf_type} from {problem.args[0]} value {raw_value} "
                    f"or request may be missing a required field"
                )
                raise RequestError("JSON_PARSER_ERROR", msg) from None
        if read_only:
            msg = (
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set."
            )
            errors.append(record_error("INVALID_FIELD_FOR_INSERT_UPDATE", msg, read_only))
        for name, value in values.items():
            errors.extend(self._check_value(self.obj.fields[name], value))
        if creating:
            missing = [
                f.name for f in self.obj.fields.values() if f.required and values.get(f.name) in (None, "")
            ]
            if missing:
                msg = f"Required fields are missing: [{', '.join(missing)}]"
                errors.append(record_error("REQUIRED_FIELD_MISSING", msg, missing))
        else:
            cleared = [n for n, v in values.items() if v in (None, "") and self.obj.fields[n].required]
            if cleared:
                msg = f"Required fields are missing: [{', '.join(cleared)}]"
                errors.append(record_error("REQUIRED_FIELD_MISSING", msg, cleared))
        for name, value in values.items():
            if value is not None and self.custom_rule(name, value):
                msg = f"{name}: value '{value}' is rejected by a validation rule"
                errors.append(record_error("FIELD_CUSTOM_VALIDATION_EXCEPTION", msg, [name]))
        return values, errors

    def _check_value(self, fdef: FieldDef, value: Any) -> list[dict[str, Any]]:
        if value is None:
            return []
        name = fdef.name
        if fdef.type in STRING_TYPES and fdef.length and len(value) > fdef.length:
            shown = value if len(value) <= 40 else value[:37] + "..."
            msg = f"{fdef.label or name}: data value too large: {shown} (max length={fdef.length})"
            return [record_error("STRING_TOO_LONG", msg, [name])]
        if fdef.type == "picklist" and fdef.picklist and value not in fdef.picklist:
            msg = f"{fdef.label or name}: bad value for restricted picklist field: {value}"
            return [record_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", msg, [name])]
        if fdef.type == "multipicklist" and fdef.picklist:
            bad = [v for v in value.split(";") if v and v not in fdef.picklist]
            if bad:
                msg = f"{fdef.label or name}: bad value for restricted picklist field: {';'.join(bad)}"
                return [record_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", msg, [name])]
        if fdef.type == "email" and value and not _EMAIL.fullmatch(value):
            msg = f"{fdef.label or name}: invalid email address: {value}"
            return [record_error("INVALID_EMAIL_ADDRESS", msg, [name])]
        if fdef.type == "reference":
            return self._check_reference(fdef, value)
        if fdef.type in NUMBER_TYPES and isinstance(value, int | float):
            whole = fdef.precision - fdef.scale
            if abs(value) >= 10**whole:
                msg = f"{fdef.label or name}: value outside of valid range on numeric field: {_java_double(value)}"
                return [record_error("NUMBER_OUTSIDE_VALID_RANGE", msg, [name])]
        if fdef.type in {"date", "datetime"} and not FIRST_YEAR <= int(value[:4]) <= LAST_YEAR:
            msg = (
                f"{fdef.label or name}: invalid date: {value} (valid dates are 1700-01-01 to 4000-12-31)"
            )
            return [record_error("FIELD_INTEGRITY_EXCEPTION", msg, [name])]
        return []

    def _check_reference(self, fdef: FieldDef, value: str) -> list[dict[str, Any]]:
        full = normalise_id(value)
        if full is None:
            msg = f"{fdef.label or fdef.name}: id value of incorrect type: {value}"
            return [record_error("MALFORMED_ID", msg, [fdef.name])]
        target = self.lookups.object_of_id(full)
        if target is None or target not in fdef.reference_to:
            msg = f"field integrity exception: unknown ({fdef.name}: id value of incorrect type: {value})"
            if target is None:
                msg = "invalid cross reference id"
                return [record_error("INVALID_CROSS_REFERENCE_KEY", msg, [fdef.name])]
            return [record_error("FIELD_INTEGRITY_EXCEPTION", msg, [fdef.name])]
        state = self.lookups.reference_state(target, full)
        if state == "deleted":
            msg = "entity is deleted"
            return [record_error("ENTITY_IS_DELETED", msg, [fdef.name])]
        if state is None:
            return [record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [fdef.name])]
        return []

    def _relationship(
        self, raw_name: str, raw_value: Any, values: dict[str, Any], source: Source
    ) -> dict[str, Any] | None:
        """Resolve ``Rel__r: {ExtField: value}`` (JSON) or ``Rel__r.ExtField`` (CSV header) to an id."""
        rel_name, _, csv_field = raw_name.partition(".")
        fdef = self.obj.relationship(rel_name)
        if fdef is None:
            msg = f"No such column '{rel_name}' on sobject of type {self.obj.name}"
            if source == "csv":
                return record_error("INVALID_FIELD", msg, [rel_name])
            raise RequestError("INVALID_FIELD", msg)
        if csv_field:
            if raw_value == "":
                return None
            pairs = {csv_field: raw_value}
        elif isinstance(raw_value, dict):
            pairs = {k: v for k, v in raw_value.items() if k != "attributes"}
        else:
            msg = f"Cannot deserialize instance of {fdef.reference_to[0]} from {_json_kind(raw_value)} value {raw_value}"
            raise RequestError("JSON_PARSER_ERROR", msg)
        target = fdef.reference_to[0]
        if len(pairs) != 1:
            msg = f"{rel_name}: a foreign key reference needs exactly one external id field"
            return record_error("INVALID_FIELD", msg, [fdef.name])
        ext_name, ext_value = next(iter(pairs.items()))
        target_def_field = self._target_field(target, ext_name)
        if target_def_field is None or not (target_def_field.external_id or target_def_field.name == "Id"):
            msg = f"Field name provided, {ext_name} is not an External ID or indexed field for {target}"
            return record_error("INVALID_FIELD", msg, [fdef.name])
        matches = self.lookups.find_external(target, target_def_field.name, ext_value)
        if not matches:
            msg = f"Foreign key external ID: {ext_value} not found for field {target_def_field.name} in entity {target}"
            return record_error("INVALID_FIELD", msg, [fdef.name])
        if len(matches) > 1:
            msg = f"Foreign key external ID: {ext_value} matched more than one record for field {target_def_field.name} in entity {target}"
            return record_error("INVALID_FIELD", msg, [fdef.name])
        values[fdef.name] = matches[0]
        return None

    def _target_field(self, target: str, name: str) -> FieldDef | None:
        target_obj = self.lookups.objects.get(target)
        return target_obj.get_field(name) if target_obj is not None else None
