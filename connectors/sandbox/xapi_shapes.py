"""How an xAPI 1.0.3 LRS shapes the statements a GET returns, and what the broad filters look at.

Kept apart from the LRS sandbox (``lms.py``) because these are pure
functions of a statement and a query, each one a sentence of the
Communication spec's section 2.1.3 (GET Statements):

* ``format`` (``exact``, ``ids``, ``canonical``): ``ids`` keeps only what
  identifies Agents, Groups, Activities and Verbs; ``canonical`` replaces
  Activities by the LRS's canonical definition and keeps one language of
  every language map, chosen by ``Accept-Language`` (section 4.1.10 of the
  Data spec: language maps).
* ``related_activities`` / ``related_agents``: the ``activity`` and
  ``agent`` filters applied broadly, to context activities, authority,
  instructor, team and a contained SubStatement.
* ``attachments=true``: the multipart/mixed answer (section 2.1.3 and the
  attachments section 1.5.2): the statement result as the first part. The
  sandbox stores no attachment data (multipart statement uploads are a JSON
  501), so the result is the only part.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

_IFI = ("mbox", "mbox_sha1sum", "openid", "account")
_LANGUAGE_MAPS = ("name", "description")
_INTERACTION_LISTS = ("choices", "scale", "source", "target", "steps")
_CONTEXT_LISTS = ("parent", "grouping", "category", "other")


# -- format=ids --------------------------------------------------------------------


def _actor_ids(actor: dict[str, Any]) -> dict[str, Any]:
    """An Agent or Group by its identifier; an anonymous Group by its members' identifiers."""
    out: dict[str, Any] = {k: copy.deepcopy(actor[k]) for k in _IFI if k in actor}
    if "objectType" in actor:
        out["objectType"] = actor["objectType"]
    if actor.get("objectType") == "Group" and not any(k in actor for k in _IFI):
        out["member"] = [_actor_ids(m) for m in actor.get("member", [])]
    return out


def _object_ids(obj: dict[str, Any]) -> dict[str, Any]:
    kind = obj.get("objectType", "Activity")
    if kind in ("Agent", "Group"):
        return _actor_ids(obj)
    if kind == "SubStatement":
        return {**_statement_ids(obj), "objectType": "SubStatement"}
    return {"objectType": kind, "id": obj["id"]}  # Activity or StatementRef


def _context_ids(context: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(context)
    for key in ("instructor", "team"):
        if isinstance(out.get(key), dict):
            out[key] = _actor_ids(out[key])
    activities = out.get("contextActivities")
    if isinstance(activities, dict):
        for key, value in activities.items():
            items = value if isinstance(value, list) else [value]
            activities[key] = [_object_ids(a) for a in items if isinstance(a, dict)]
    return out


def _statement_ids(statement: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(statement)
    out["actor"] = _actor_ids(statement["actor"])
    out["verb"] = {"id": statement["verb"]["id"]}
    out["object"] = _object_ids(statement["object"])
    if isinstance(statement.get("authority"), dict):
        out["authority"] = _actor_ids(statement["authority"])
    if isinstance(statement.get("context"), dict):
        out["context"] = _context_ids(statement["context"])
    return out


# -- format=canonical ----------------------------------------------------------------


def preferred_languages(accept_language: str | None) -> list[str]:
    """Language tags of an ``Accept-Language`` header, best first (q=0 left out)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and weight > 0:
            ranked.append((-weight, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def _one_language(value: Any, languages: list[str]) -> Any:
    """A language map cut to the entry the client prefers (then ``und``, then the map's first)."""
    if not isinstance(value, dict) or len(value) <= 1:
        return value
    by_lower = {k.lower(): k for k in value}
    for tag in languages:
        if tag == "*":
            break
        key = by_lower.get(tag.lower()) or next(
            (k for low, k in by_lower.items() if low.split("-")[0] == tag.lower().split("-")[0]), None
        )
        if key is not None:
            return {key: value[key]}
    key = by_lower.get("und") or next(iter(value))
    return {key: value[key]}


def _definition(definition: dict[str, Any], languages: list[str]) -> dict[str, Any]:
    out = copy.deepcopy(definition)
    for key in _LANGUAGE_MAPS:
        if key in out:
            out[key] = _one_language(out[key], languages)
    for key in _INTERACTION_LISTS:
        for component in out.get(key) or []:
            if isinstance(component, dict) and "description" in component:
                component["description"] = _one_language(component["description"], languages)
    return out


def _activity(
    activity: dict[str, Any], canonical: Callable[[str], dict[str, Any] | None], languages: list[str]
) -> dict[str, Any]:
    known = canonical(activity["id"])
    out = copy.deepcopy(known or activity)
    out.setdefault("objectType", "Activity")
    if isinstance(out.get("definition"), dict):
        out["definition"] = _definition(out["definition"], languages)
    return out


def _canonical(
    statement: dict[str, Any], canonical: Callable[[str], dict[str, Any] | None], languages: list[str]
) -> dict[str, Any]:
    out = copy.deepcopy(statement)
    if "display" in out["verb"]:
        out["verb"]["display"] = _one_language(out["verb"]["display"], languages)
    kind = out["object"].get("objectType", "Activity")
    if kind == "Activity":
        out["object"] = _activity(out["object"], canonical, languages)
    elif kind == "SubStatement":
        out["object"] = {**_canonical(out["object"], canonical, languages), "objectType": "SubStatement"}
    activities = (out.get("context") or {}).get("contextActivities")
    if isinstance(activities, dict):
        for key, value in activities.items():
            items = value if isinstance(value, list) else [value]
            activities[key] = [_activity(a, canonical, languages) for a in items if isinstance(a, dict)]
    return out


def shape(
    statement: dict[str, Any],
    fmt: str,
    canonical: Callable[[str], dict[str, Any] | None],
    accept_language: str | None,
) -> dict[str, Any]:
    """One statement as ``format`` asks (``exact`` is the statement as stored)."""
    if fmt == "ids":
        return _statement_ids(statement)
    if fmt == "canonical":
        return _canonical(statement, canonical, preferred_languages(accept_language))
    return copy.deepcopy(statement)


# -- related_activities / related_agents ------------------------------------------------


def related_activity_ids(statement: dict[str, Any]) -> Iterator[str]:
    """The object (if an Activity), every context Activity, and the same of a contained SubStatement."""
    obj = statement.get("object") or {}
    kind = obj.get("objectType", "Activity")
    if kind == "Activity" and obj.get("id"):
        yield obj["id"]
    activities = (statement.get("context") or {}).get("contextActivities") or {}
    for key in _CONTEXT_LISTS:
        value = activities.get(key) or []
        for activity in value if isinstance(value, list) else [value]:
            if isinstance(activity, dict) and activity.get("id"):
                yield activity["id"]
    if kind == "SubStatement":
        yield from related_activity_ids(obj)


def related_agents(statement: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Actor, object, authority, instructor and team, and the same of a contained SubStatement."""
    context = statement.get("context") or {}
    for candidate in (statement.get("actor"), statement.get("object"), statement.get("authority"),
                      context.get("instructor"), context.get("team")):
        if isinstance(candidate, dict) and candidate.get("objectType", "Agent") in ("Agent", "Group"):
            yield candidate
    obj = statement.get("object") or {}
    if obj.get("objectType") == "SubStatement":
        yield from related_agents(obj)


# -- attachments=true -------------------------------------------------------------------


def multipart(result: Any) -> tuple[bytes, str]:
    """The multipart/mixed answer with the JSON result as its first (and here only) part."""
    boundary = f"xapi-{uuid.uuid4().hex}"
    part = json.dumps(result, default=str).encode("utf-8")
    body = (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode()
        + part
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/mixed; boundary={boundary}"
