"""``audit`` and ``review``: what an administrator does after a run (``failures`` has its own module).

``audit`` tells where a field's value came from; ``review`` settles the field
conflicts a mapping parked for a person. Every decision is written to the
audit log with the acting user. Bad input (unknown id, malformed date) is a
``UsageError``: one line, exit 2.
"""

from __future__ import annotations

import getpass
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from pydantic import BaseModel

from prm_sync.cli.app import app
from prm_sync.cli.context import MAX_ID, MAX_LIMIT, state
from prm_sync.cli.output import console, print_json, print_table
from prm_sync.errors import UsageError
from prm_sync.store.db import Store
from prm_sync.sync.merges import MERGE_FIELD

review_app = typer.Typer(help="Field conflicts parked for a person (rule manual_review).", no_args_is_help=True)
app.add_typer(review_app, name="review")

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def actor() -> str:
    """Who is acting, for the audit log: the OS user running the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def parse_since(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """``24h``/``7d``/``30m``/``2w`` ago, or an ISO date/datetime (UTC unless it says otherwise)."""
    if value is None:
        return None
    text = value.strip()
    match = _RELATIVE.match(text)
    if match:
        try:
            return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except (OverflowError, ValueError):  # 99999999999d reaches before year 1
            msg = f"--since {value!r} reaches back before the year 1; give a shorter duration or an ISO date"
            raise UsageError(msg) from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        msg = f"--since {value!r} is neither a duration like 24h/7d nor an ISO date like 2026-11-01"
        raise UsageError(msg) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _store() -> Store:
    from prm_sync.runtime import open_store

    return open_store(state.config())


class ReviewOutcome(BaseModel):
    item_id: int
    entity: str
    record_id: str
    system: str
    field: str
    take: str
    previous: Any
    value: Any


def resolve_review_item(store: Store, item_id: int, *, take: str, value: str | None, actor: str) -> ReviewOutcome:
    """Close a review item and put the winning value on the PRM record, in one transaction.

    The field was held back from pushes while the item was open; once the
    PRM record carries the decision and the hold is lifted, the next push
    writes it to the system (a PRM value that differs from the last agreed one
    is a PRM change). The decision is audited with the acting user.
    """
    from pydantic import ValidationError

    from prm_sync.model import ENTITIES, utcnow
    from prm_sync.store import audit, records, review

    with store.session() as session:
        item = review.get_review(session, item_id)
        if item is None:
            msg = f"no review item with id {item_id} (see `prm-sync review list`)"
            raise UsageError(msg)
        record = records.get_record(session, item.entity, item.record_id)
        if record is None:
            msg = f"review item {item_id}: {item.entity} {item.record_id} is no longer in the PRM store"
            raise UsageError(msg)
        if item.field == MERGE_FIELD:
            return _settle_merge(session, item, take=take, actor=actor)
        settled = review.resolve_review(session, item_id, resolution=take, resolved_by=actor, resolved_value=value)
        previous = getattr(record, item.field)
        try:
            updated = ENTITIES[item.entity].model_validate(
                {**record.model_dump(), item.field: settled.resolved_value, "updated_at": utcnow()}
            )
        except ValidationError as exc:
            problem = "; ".join(e["msg"] for e in exc.errors())
            msg = f"review item {item_id}: {settled.resolved_value!r} is not a valid {item.field}: {problem}"
            raise UsageError(msg) from None
        records.save_record(session, updated)
        audit.append_audit(session, [audit.AuditEntry(
            actor=actor, action="review.resolve", system=item.system, entity=item.entity, record_id=item.record_id,
            fields_before={item.field: previous}, fields_after={item.field: getattr(updated, item.field)},
            reason=f"review item {item_id} settled: took {take}",
        )])
    return ReviewOutcome(item_id=item_id, entity=item.entity, record_id=item.record_id, system=item.system,
                         field=item.field, take=take, previous=previous, value=getattr(updated, item.field))


def _settle_merge(session: Any, item: Any, *, take: str, actor: str) -> ReviewOutcome:
    """A merge a user made in a CRM between two PRM records whose data differ.

    ``--take remote``: accept it, the two become one (``merges.merge_into``);
    ``--take prm``: keep them apart, and the next sync writes the merged-away
    record to that system again as a record of its own.
    """
    from prm_sync.model import utcnow
    from prm_sync.store import audit, review
    from prm_sync.store import state as link_state
    from prm_sync.sync.merges import merge_into

    survivor = str(item.remote_value)
    if take == "remote":
        relinked = merge_into(session, item.entity, item.record_id, survivor, system=item.system, run_id=None,
                              now=utcnow(), reason=f"review item {item.id}: {actor} accepted the merge made in {item.system}")
        outcome = f"merged into {survivor} ({len(relinked)} records relinked)"
    elif take == "prm":
        link_state.delete_state(session, item.entity, item.record_id, item.system)
        outcome = f"kept apart from {survivor}: written to {item.system} again by the next sync"
    else:
        msg = f"review item {item.id} is a merge: take remote (merge them) or prm (keep them apart)"
        raise UsageError(msg)
    review.resolve_review(session, item.id, resolution=take, resolved_by=actor)
    audit.append_audit(session, [audit.AuditEntry(
        actor=actor, action="review.resolve", system=item.system, entity=item.entity, record_id=item.record_id,
        reason=f"review item {item.id} settled: {outcome}")])
    return ReviewOutcome(item_id=item.id, entity=item.entity, record_id=item.record_id, system=item.system,
                         field=item.field, take=take, previous=item.record_id, value=outcome)


# -- audit ---------------------------------------------------------------------------------------
@app.command("audit")
def audit_command(
    record: str = typer.Argument(..., help="A PRM id (ptn_...) or a remote id (001..., 12345)."),
    limit: int = typer.Option(200, "--limit", min=1, max=MAX_LIMIT, help="At most this many entries, newest first."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Where each field of a record got its value: run, time, source field and rule."""
    from prm_sync.audit_view import provenance

    store = _store()
    try:
        with store.session(readonly=True) as session:
            lines = provenance(session, record, limit=limit)
    finally:
        store.close()
    if not lines:
        msg = f"no audit entries for {record!r}: neither a PRM id nor a remote id prm-sync has changed"
        raise UsageError(msg)
    if json_output:
        print_json([line.model_dump(mode="json") for line in lines])
        return
    for line in lines:
        console.print(line.text, markup=False, highlight=False, soft_wrap=True)


# -- review -------------------------------------------------------------------------------------
@review_app.command("list")
def review_list(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Open field conflicts, oldest first."""
    from prm_sync.store import review

    store = _store()
    try:
        with store.session(readonly=True) as session:
            items = review.list_open_reviews(session)
    finally:
        store.close()
    if json_output:
        print_json([i.model_dump(mode="json") for i in items])
        return
    print_table(
        f"{len(items)} open review item{'s' if len(items) != 1 else ''}",
        ["id", "entity", "record", "system", "field", "PRM value", "remote value", "since"],
        [(i.id, i.entity, i.record_id, i.system, i.field, i.prm_value, i.remote_value,
          i.created_at.isoformat(timespec="seconds")) for i in items],
    )


@review_app.command("resolve")
def review_resolve(
    item_id: int = typer.Argument(..., min=1, max=MAX_ID, help="The review item id from `review list`."),
    take: str = typer.Option(..., "--take", help="prm (keep the PRM value), remote, or value (--value)."),
    value: str | None = typer.Option(None, "--value", help="The right value, with --take value."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Settle a conflict: the PRM record takes the chosen value and the next push carries it."""
    if take not in ("prm", "remote", "value"):
        msg = f"--take {take!r}: expected prm, remote or value"
        raise UsageError(msg)
    if (take == "value") != (value is not None):
        raise UsageError("--value goes with --take value, and only with it")
    store = _store()
    try:
        outcome = resolve_review_item(store, item_id, take=take, value=value, actor=actor())
    finally:
        store.close()
    if json_output:
        print_json(outcome.model_dump(mode="json"))
        return
    console.print(
        f"review item {item_id}: {outcome.entity} {outcome.record_id}.{outcome.field} = {outcome.value!r} "
        f"(was {outcome.previous!r}); the next sync writes it to {outcome.system}",
        markup=False, highlight=False,
    )
