"""Field-level merge of a record that changed in the PRM and in a remote system.

With a ``base`` (the values both sides agreed on at the last sync) a field
changed on one side only simply takes that side: no rule is needed. Only a
field changed on both sides to different values goes to its conflict rule.
``manual_review`` keeps the PRM value and lists the field for a person, and
never writes it to the remote until someone decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from prm_sync.mapping.values import is_blank, same

Winner = Literal["prm", "remote", "same", "review"]


class _Field(Protocol):
    prm: str | None
    direction: str
    rule: str


@dataclass(frozen=True)
class Decision:
    """What happened to one field: the rule applied and which side won."""

    rule: str  # a conflict rule, or "one_side_changed" / "prm_only" / "remote_only" / "equal"
    winner: Winner


@dataclass(frozen=True)
class ReviewItem:
    """A field a person must decide, with both candidate values."""

    field: str
    prm_value: Any
    remote_value: Any
    base_value: Any = None


@dataclass
class MergeResult:
    values: dict[str, Any]  # canonical values after the merge
    decisions: dict[str, Decision] = field(default_factory=dict)
    review: list[ReviewItem] = field(default_factory=list)
    to_remote_fields: dict[str, Any] = field(default_factory=dict)  # remote field -> value to write back
    remote_stale: set[str] = field(default_factory=set)  # canonical fields whose remote value must change


def _newest(prm_at: datetime | None, remote_at: datetime | None) -> Winner:
    """The later edit of *this field* wins; ties and unknown times keep our value.

    The times are per field, kept on our side, with no extra API call (the
    no-change run stays at one read per object and system):

    * the PRM side is the field's own stamp (``field_changed_at``, written by
      the store whenever the value changes; a value pulled from a CRM is
      stamped with that record's modstamp), so an edit of another field later
      does not make this one look new;
    * the remote side is the record's modstamp: a pulled value that differs
      from the last agreement changed at or before it. It is an upper bound:
      when a user edits this field and, later, another field of the same record
      before our next pull, the remote edit looks as late as the second one.

    Salesforce field history (``AccountHistory``, only for fields with history
    tracking switched on, at most 20 per object) and HubSpot
    ``propertiesWithHistory`` would tighten that bound, at one more call per
    conflicted record and only where the portal and org allow it; the stamps
    need neither, and pulls every few minutes keep the bound close.
    """
    if remote_at is not None and (prm_at is None or remote_at > prm_at):
        return "remote"
    return "prm"


def resolve_rule(rule: str, prm_value: Any, remote_value: Any, prm_at: Any, remote_at: Any) -> Winner:
    if rule == "prefer_remote":
        return "remote"
    if rule == "prefer_remote_unless_blank":
        return "prm" if is_blank(remote_value) else "remote"
    if rule == "newest":
        return _newest(prm_at, remote_at)
    if rule == "manual_review":
        return "review"
    return "prm"


def merge_values(
    fields: list[Any],
    prm: dict[str, Any],
    remote: dict[str, Any],
    base: dict[str, Any] | None,
    prm_changed_at: datetime | None,
    remote_changed_at: datetime | None,
) -> MergeResult:
    """Merge mapped canonical values field by field (see the module docstring)."""
    result = MergeResult(values=dict(prm))
    for f in fields:
        name = f.prm
        if name is None or f.direction == "none" or name in result.decisions:
            continue
        p, r = prm.get(name), remote.get(name)
        if f.direction == "to_remote":
            decision = Decision("prm_only", "same" if same(p, r) else "prm")
        elif f.direction == "from_remote":
            decision = Decision("remote_only", "same" if same(p, r) else "remote")
        elif same(p, r):
            decision = Decision("equal", "same")
        elif base is not None and same(p, base.get(name)):
            decision = Decision("one_side_changed", "remote")
        elif base is not None and same(r, base.get(name)):
            decision = Decision("one_side_changed", "prm")
        else:
            decision = Decision(f.rule, resolve_rule(f.rule, p, r, prm_changed_at, remote_changed_at))
        result.decisions[name] = decision
        if decision.winner == "remote":
            result.values[name] = r
        elif decision.winner == "prm" and f.direction in ("to_remote", "both"):
            result.remote_stale.add(name)
        elif decision.winner == "review":
            result.review.append(ReviewItem(name, p, r, None if base is None else base.get(name)))
    return result
