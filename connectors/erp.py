"""ERP connector: Odoo 17's external API over JSON-RPC, with ``requests``.

Reads invoices, credit memos and payments incrementally by ``write_date``
and upserts partner vendors and vendor bills by our own key (``x_prm_id``).

* **Incremental reads** use keyset ("seek") paging on ``(write_date, id)``
  rather than ``offset``: ``write_date`` has one-second resolution, so ties
  are normal, and a record modified while we page would shift every later
  offset by one and be skipped; the seek domain
  ``write_date > s OR (write_date = s AND id > last)`` cannot skip.
* **Upsert** — Odoo has none, so per batch of 100: one ``search_read`` by
  ``key_field in keys``, one ``create`` with the list of missing records,
  and one ``write`` per group of existing records receiving identical
  values (at worst one per record). The batch is one retry unit that starts
  with the search, so a create whose answer was lost is found, not
  duplicated. A batch rejected by a validation error is replayed record by
  record to pin the error on the record that caused it.
* Deletes in Odoo are hard deletes with no tombstone: ``include_deleted``
  cannot report them; reconcile's ``read_all`` catches them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from connectors.base import Cursor, FieldInfo, Quota, RemoteRecord, UpsertRequest, WriteResult, page
from connectors.httpclient import HttpClient, HttpSettings, load_settings
from prm_sync.errors import AuthError, ConfigError, FatalError, RecordError, RemoteErrorInfo

WRITE_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_RECORD_ERRORS = {
    "odoo.exceptions.ValidationError": "ValidationError",
    "odoo.exceptions.UserError": "UserError",
    "odoo.exceptions.MissingError": "MissingError",
    "builtins.ValueError": "ValueError",
}
_DESCRIBE_ATTRIBUTES = ["type", "string", "required", "readonly", "selection", "relation"]


class ErpSettings(HttpSettings):
    """Where Odoo is, which database, and the integration user's login and API key."""

    model_config = ConfigDict(extra="forbid")

    database: str = Field(min_length=1, description="Odoo database name")
    login: str = Field(min_length=1, description="login of the integration user")

    @classmethod
    def load(cls, data: dict[str, Any], *, source: str | None = None) -> ErpSettings:
        """Validate raw settings, raising one ``ConfigError`` listing every problem."""
        return load_settings(cls, data, source=source)


def format_write_date(value: datetime) -> str:
    """A cursor datetime as Odoo compares it (UTC, whole seconds, floor)."""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(WRITE_DATE_FORMAT)


def _parse_write_date(value: str) -> datetime:
    return datetime.strptime(value, WRITE_DATE_FORMAT).replace(tzinfo=UTC)


def _to_odoo(value: Any) -> Any:
    """Python values as Odoo's JSON-RPC expects them (``False`` for empty)."""
    if value is None:
        return False
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return format_write_date(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _m2o_id(meta: dict[str, dict[str, Any]], name: str, value: Any) -> Any:
    """A many2one takes an integer id; link states and lookups carry remote ids as strings."""
    if meta.get(name, {}).get("type") == "many2one" and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


class ErpConnector:
    """prm-sync's view of Odoo: models as objects, ``write_date`` as modstamp."""

    system: ClassVar[str] = "erp"
    batch_size: ClassVar[int] = 100

    def __init__(self, settings: ErpSettings, *, http: HttpClient | None = None) -> None:
        self.settings = settings
        self.http = http or HttpClient(self.system, settings, headers={"Accept": "application/json"})
        self._ids = itertools.count(1)
        self._uid: int | None = None
        self._fields: dict[str, dict[str, dict[str, Any]]] = {}

    @property
    def api_calls(self) -> int:
        return self.http.api_calls

    # -- JSON-RPC ------------------------------------------------------------------------
    def rpc(self, service: str, method: str, args: list[Any], *, retry: bool = True) -> Any:
        """One JSON-RPC call; Odoo's error object becomes the matching prm-sync error."""
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": next(self._ids),
        }
        response = self.http.request("POST", "/jsonrpc", json=payload, retry=retry)
        try:
            body = response.json()
        except ValueError:
            msg = "erp: /jsonrpc did not answer JSON"
            raise FatalError(msg) from None
        if not isinstance(body, dict) or ("result" not in body and "error" not in body):
            msg = "erp: /jsonrpc answered something that is not a JSON-RPC response"
            raise FatalError(msg)
        if "error" in body:
            self._raise_odoo(body["error"], f"{service}.{method}")
        return body["result"]

    def execute(
        self,
        model: str,
        method: str,
        args: list[Any],
        kwargs: dict[str, Any] | None = None,
        *,
        retry: bool = True,
    ) -> Any:
        """``object.execute_kw`` as the integration user."""
        key = self.settings.access_token.get_secret_value()
        call = [self.settings.database, self.uid, key, model, method, args, kwargs or {}]
        try:
            return self.rpc("object", "execute_kw", call, retry=retry)
        except RecordError as exc:
            # Odoo 17 reports an unknown model as a UserError, not as a fault of one record
            if f"Object {model} doesn't exist" in str(exc):
                msg = f"erp: model {model!r} does not exist in database {self.settings.database!r}"
                raise ConfigError(msg) from None
            raise

    @property
    def uid(self) -> int:
        """The integration user's id, from ``common.authenticate`` (once per connector)."""
        if self._uid is None:
            key = self.settings.access_token.get_secret_value()
            uid = self.rpc("common", "authenticate", [self.settings.database, self.settings.login, key, {}])
            if not isinstance(uid, int) or isinstance(uid, bool):
                info = RemoteErrorInfo(self.system, None, "AccessDenied", "login or API key rejected by Odoo")
                raise AuthError(info)
            self._uid = uid
        return self._uid

    def _raise_odoo(self, error: Any, where: str) -> None:
        data = error.get("data") if isinstance(error, dict) else None
        data = data if isinstance(data, dict) else {}
        name = str(data.get("name") or "unknown")
        message = str(data.get("message") or (error.get("message") if isinstance(error, dict) else error))
        if name == "odoo.exceptions.AccessDenied":
            raise AuthError(
                RemoteErrorInfo(self.system, None, "AccessDenied", "API key or user rejected by Odoo")
            )
        if name in _RECORD_ERRORS:
            raise RecordError(RemoteErrorInfo(self.system, None, _RECORD_ERRORS[name], message))
        msg = f"erp: {where} failed: {name}: {message}"
        raise FatalError(msg)

    # -- describe --------------------------------------------------------------------------
    def fields_meta(self, model: str) -> dict[str, dict[str, Any]]:
        """``fields_get`` for the model, cached for the connector's life."""
        if model not in self._fields:
            self._fields[model] = self.execute(model, "fields_get", [], {"attributes": _DESCRIBE_ATTRIBUTES})
        return self._fields[model]

    def describe(self, object_name: str) -> list[FieldInfo]:
        return [
            FieldInfo(
                name=name,
                type=str(meta.get("type")),
                label=meta.get("string"),
                nillable=not meta.get("required", False),
                required_on_create=bool(meta.get("required", False)),
                updateable=not meta.get("readonly", False),
                picklist_values=[str(pair[0]) for pair in meta.get("selection") or []],
            )
            for name, meta in self.fields_meta(object_name).items()
        ]

    # -- reads -------------------------------------------------------------------------------
    def read_changes(
        self,
        object_name: str,
        fields: list[str],
        since: Cursor,
        *,
        where: str | None = None,
        until: datetime | None = None,
        include_deleted: bool = True,
    ) -> Iterator[RemoteRecord]:
        """Records with ``write_date`` in ``(since, until]``, ascending by (write_date, id).

        ``where`` is an Odoo domain as JSON, e.g. ``[["move_type", "=", "out_invoice"]]``.
        """
        base = self._where(where)
        if until is not None:
            base.append(["write_date", "<=", format_write_date(until)])
        stamp = format_write_date(since.modstamp) if since.modstamp is not None else None
        last_id = self._int_id(since.last_id) if since.last_id is not None else None
        yield from self._seek(object_name, fields, base, stamp, last_id, by_write_date=True)

    def read_all(
        self, object_name: str, fields: list[str], *, where: str | None = None
    ) -> Iterator[RemoteRecord]:
        """Every record matching ``where``, paged by id."""
        yield from self._seek(object_name, fields, self._where(where), None, None, by_write_date=False)

    def _seek(
        self,
        model: str,
        fields: list[str],
        base: list[Any],
        stamp: str | None,
        last_id: int | None,
        *,
        by_write_date: bool,
    ) -> Iterator[RemoteRecord]:
        meta = self.fields_meta(model)
        names = self._check_fields(model, fields, meta)
        wanted = sorted(set(names) | {"write_date"})
        order = "write_date asc, id asc" if by_write_date else "id asc"
        seen: set[tuple[str | None, int | None]] = set()
        while True:
            domain = [*base, *self._after(stamp, last_id, by_write_date)]
            rows = self.execute(
                model, "search_read", [domain], {"fields": wanted, "limit": self.batch_size, "order": order}
            )
            for row in rows:
                yield RemoteRecord(
                    id=str(row["id"]),
                    modstamp=_parse_write_date(row["write_date"]),
                    fields=self._flatten(row, names, meta),
                )
            if len(rows) < self.batch_size:
                return
            stamp, last_id = rows[-1]["write_date"], rows[-1]["id"]
            if (stamp, last_id) in seen:
                msg = f"erp: paging {model} did not advance past ({stamp}, {last_id}); stopping"
                raise FatalError(msg)
            seen.add((stamp, last_id))

    @staticmethod
    def _after(stamp: str | None, last_id: int | None, by_write_date: bool) -> list[Any]:
        if not by_write_date:
            return [] if last_id is None else [["id", ">", last_id]]
        if stamp is None:
            return []
        if last_id is None:
            return [["write_date", ">", stamp]]
        return ["|", ["write_date", ">", stamp], "&", ["write_date", "=", stamp], ["id", ">", last_id]]

    @staticmethod
    def _flatten(row: dict[str, Any], names: list[str], meta: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """many2one ``[id, name]`` -> ``field`` (id) + ``field_name``; Odoo's ``False`` -> None."""
        out: dict[str, Any] = {}
        for name in names:
            kind = meta[name].get("type")
            value = row.get(name)
            if kind == "many2one":
                out[name] = value[0] if value else None
                out[f"{name}_name"] = value[1] if value else None
            elif kind == "boolean":
                out[name] = bool(value)
            elif kind == "many2many":
                out[name] = list(value or [])
            else:
                out[name] = None if value is False else value
        return out

    def _check_fields(self, model: str, fields: list[str], meta: dict[str, dict[str, Any]]) -> list[str]:
        """Fields to read; a many2one's ``field_name`` label is read through its ``field``."""
        names = [f.removesuffix("_name") if self._is_m2o_label(f, meta) else f for f in fields]
        unknown = [f for f in names if f not in meta]
        if unknown:
            msg = f"erp: unknown field(s) on {model}: {', '.join(unknown)}"
            raise ConfigError(msg)
        return list(dict.fromkeys(names)) or [n for n in meta if n not in ("display_name",)]

    @staticmethod
    def _where(where: str | list[Any] | None) -> list[Any]:
        """An Odoo domain, given as a list (mapping files) or as JSON text (CLI)."""
        if not where:
            return []
        if isinstance(where, list):
            return where
        try:
            domain = json.loads(where)
        except ValueError:
            domain = None
        if not isinstance(domain, list):
            msg = f'erp: where must be an Odoo domain as a JSON list, e.g. [["state", "=", "posted"]] (got {where!r})'
            raise ConfigError(msg)
        return domain

    @staticmethod
    def _int_id(value: str) -> int:
        try:
            return int(value)
        except ValueError:
            msg = f"erp: record ids are integers (got {value!r})"
            raise ConfigError(msg) from None

    # -- writes -------------------------------------------------------------------------------
    def upsert(self, object_name: str, key_field: str, records: list[UpsertRequest]) -> list[WriteResult]:
        """Idempotent upsert by ``key_field`` (see the module docstring for the call pattern)."""
        if not records:
            return []
        meta = self.fields_meta(object_name)
        if key_field not in meta:
            msg = f"erp: key field {key_field!r} does not exist on {object_name}"
            raise ConfigError(msg)
        merged: dict[str, dict[str, Any]] = {}
        rejected: dict[str, WriteResult] = {}
        for request in records:  # one key once per call; later values win
            unknown = [f for f in request.fields if f not in meta and not self._is_m2o_label(f, meta)]
            if unknown:
                rejected[request.key] = WriteResult(
                    key=request.key,
                    ok=False,
                    error_code="INVALID_FIELD",
                    error_fields=unknown,
                    error_message=f"unknown field(s) on {object_name}: {', '.join(unknown)}",
                )
                continue
            vals = merged.setdefault(request.key, {})
            vals.update(
                {
                    k: _m2o_id(meta, k, _to_odoo(v))
                    for k, v in request.fields.items()
                    if not self._is_m2o_label(k, meta)
                }
            )
        outcome: dict[str, WriteResult] = dict(rejected)
        for keys in page([k for k in merged if k not in rejected], self.batch_size):
            chunk = {k: merged[k] for k in keys}
            outcome.update(self._upsert_unit(object_name, key_field, chunk))
        return [outcome[r.key].model_copy() for r in records]

    @staticmethod
    def _is_m2o_label(name: str, meta: dict[str, dict[str, Any]]) -> bool:
        base = name.removesuffix("_name")
        return base != name and meta.get(base, {}).get("type") == "many2one" and name not in meta

    def _upsert_unit(
        self, model: str, key_field: str, chunk: dict[str, dict[str, Any]]
    ) -> dict[str, WriteResult]:
        sent_create: set[str] = set()  # keys whose create may have happened without us hearing back

        def attempt() -> dict[str, WriteResult]:
            found = self.execute(
                model,
                "search_read",
                [[[key_field, "in", list(chunk)]]],
                {"fields": ["id", key_field]},
                retry=False,
            )
            by_key: dict[str, list[int]] = {}
            for row in found:
                by_key.setdefault(str(row[key_field]), []).append(int(row["id"]))
            results: dict[str, WriteResult] = {}
            for key, ids in by_key.items():
                if len(ids) > 1:
                    results[key] = WriteResult(
                        key=key,
                        ok=False,
                        error_code="DUPLICATE_KEY",
                        error_message=f"{len(ids)} {model} records have {key_field} = {key!r}: {ids}",
                    )
            missing = [k for k in chunk if k not in by_key]
            existing = {k: ids[0] for k, ids in by_key.items() if k not in results and k in chunk}
            sent_create.update(missing)
            results.update(self._create(model, key_field, {k: chunk[k] for k in missing}))
            results.update(self._write(model, key_field, {k: (existing[k], chunk[k]) for k in existing}))
            for key in existing:
                if key in sent_create and results[key].ok:
                    results[key] = results[key].model_copy(update={"created": True})
            return results

        return self.http.retrying(attempt)

    def _create(self, model: str, key_field: str, todo: dict[str, dict[str, Any]]) -> dict[str, WriteResult]:
        if not todo:
            return {}
        rows = [{**vals, key_field: key} for key, vals in todo.items()]
        try:
            ids = self.execute(model, "create", [rows], retry=False)
        except RecordError as exc:
            if len(rows) == 1:
                return {next(iter(todo)): self._failed(next(iter(todo)), exc, rows[0])}
            results: dict[str, WriteResult] = {}
            for key in todo:  # isolate the offending record(s); the rest still go in
                results.update(self._create(model, key_field, {key: todo[key]}))
            return results
        return {
            key: WriteResult(key=key, ok=True, remote_id=str(new_id), created=True)
            for key, new_id in zip(todo, ids, strict=True)
        }

    def _write(
        self, model: str, key_field: str, todo: dict[str, tuple[int, dict[str, Any]]]
    ) -> dict[str, WriteResult]:
        groups: dict[str, list[str]] = {}
        for key, (_, vals) in todo.items():
            body = {k: v for k, v in vals.items() if k != key_field}
            groups.setdefault(json.dumps(body, sort_keys=True, default=str), []).append(key)
        results: dict[str, WriteResult] = {}
        for signature, keys in groups.items():
            body = json.loads(signature)
            ids = [todo[k][0] for k in keys]
            try:
                if body:
                    self.execute(model, "write", [ids, body], retry=False)
            except RecordError as exc:
                if len(keys) == 1:
                    results[keys[0]] = self._failed(keys[0], exc, body)
                    continue
                for key in keys:
                    results.update(self._write(model, key_field, {key: todo[key]}))
                continue
            for key in keys:
                results[key] = WriteResult(key=key, ok=True, remote_id=str(todo[key][0]), created=False)
        return results

    @staticmethod
    def _failed(key: str, exc: RecordError, vals: dict[str, Any]) -> WriteResult:
        fields = [name for name in vals if f"'{name}'" in exc.info.message]
        return WriteResult(
            key=key, ok=False, error_code=exc.info.code, error_message=exc.info.message, error_fields=fields
        )

    def delete(self, object_name: str, remote_ids: list[str], *, permanent: bool = False) -> list[WriteResult]:
        """Unlink by id; an id already gone counts as deleted (deletes are replayed safely)."""
        results: dict[str, WriteResult] = {}
        wanted: dict[int, str] = {}
        for remote_id in remote_ids:
            try:
                wanted[int(remote_id)] = remote_id
            except ValueError:
                results[remote_id] = WriteResult(
                    key=remote_id, ok=False, error_code="INVALID_ID", error_message="Odoo ids are integers"
                )
        for ids in page(list(wanted), self.batch_size):
            results.update(self.http.retrying(lambda ids=ids: self._delete_unit(object_name, ids, wanted)))
        return [results[r].model_copy() for r in remote_ids]

    def _delete_unit(self, model: str, ids: list[int], names: dict[int, str]) -> dict[str, WriteResult]:
        present = set(self.execute(model, "search", [[["id", "in", ids]]], retry=False))
        results = {
            names[i]: WriteResult(key=names[i], ok=True, remote_id=names[i]) for i in ids if i not in present
        }
        todo = [i for i in ids if i in present]
        groups = [todo] if todo else []
        while groups:
            group = groups.pop()
            try:
                self.execute(model, "unlink", [group], retry=False)
            except RecordError as exc:
                if len(group) > 1:
                    groups.extend([i] for i in group)
                    continue
                results[names[group[0]]] = self._failed(names[group[0]], exc, {})
                continue
            results.update({names[i]: WriteResult(key=names[i], ok=True, remote_id=names[i]) for i in group})
        return results

    def quota(self) -> Quota:
        """Odoo publishes no request budget; rate limits surface as 429 instead."""
        return Quota(window="none")
