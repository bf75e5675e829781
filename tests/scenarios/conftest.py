"""Scenario fixtures: business stories told through the systems people use.

A scenario is a story a user would tell: "a rep changed the partner's phone
in Salesforce", "a learner passed the security course", "finance paid the
payout bill in Odoo". Each test makes that edit through the **real client
library** of the system (simple-salesforce, hubspot-api-client, xAPI
statements POSTed with ``requests``, Odoo JSON-RPC over ``requests``), runs
the engine or the CLI, and asserts on what Salesforce, HubSpot and Odoo hold
afterwards, read back through those same clients. No fixture hands the
product a foreign key it is supposed to work out itself (a completion's
partner, a payment's invoice): the world starts empty except for what the
story says.

``make_world(systems=..., store=None)`` (factory) gives a ``World``:

* ``world.salesforce`` - a ``simple_salesforce.Salesforce`` client of the sandbox org;
* ``world.hubspot`` - a ``hubspot.HubSpot`` client of the sandbox portal;
* ``world.lrs`` - ``Lrs``: ``post(statement)`` / ``completion(email, course, ...)`` (xAPI 1.0.3);
* ``world.odoo`` - ``Odoo``: ``execute(model, method, *args, **kwargs)`` plus finance's everyday
  actions (``invoice``, ``register_payment``, ``credit_note``, ``pay_bill``);
* ``world.prm`` - ``Prm``: what a PRM user does in the PRM store (``save``, ``get``, ``all``);
* ``world.clock`` - ``Clock``: the engine's "now" (real time unless ``set``/``advance``d);
* ``world.sync(**scope)`` - one engine run (rules included) on the world's clock; it fails the
  test on any failed record unless ``allow_failures=True``;
* ``world.assert_settled()`` - another sync that must write nothing anywhere (no remote write,
  no PRM change, no rule decision): every story ends with it;
* ``world.cli(*args)`` - the real ``prm-sync`` entry point, in-process, on this world's config;
* ``world.env`` - the underlying ``SyncEnv`` (sandboxes as ``env.apps``, ``env.runtime``).

``world`` is all four systems on SQLite. A story that must hold on both backends asks for the
``store`` fixture too (SQLite and PostgreSQL) and passes it: ``make_world(systems=..., store=store)``.
Ask only for the systems the story needs: each one is a sandbox started and synced every run.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
import yaml
from fixtures.cli import CliResult
from hubspot import HubSpot
from sandbox_fixtures.cluster import MakeSyncEnv, SyncEnv, hubspot_client, salesforce_client
from simple_salesforce import Salesforce

from connectors.sandbox.cluster import SYSTEMS
from prm_sync.model import CanonicalRecord
from prm_sync.store import records
from prm_sync.store.db import ENV_DATABASE_URL, Store
from prm_sync.store.ledger import count_writes
from prm_sync.sync.engine import SyncScope
from prm_sync.sync.stats import RunReport

XAPI_VERSION = "1.0.3"
VERBS = "http://adlnet.gov/expapi/verbs/"
PRODUCT_LINE_EXT = "https://prm-sync.dev/xapi/product-line"


@dataclass
class Clock:
    """The engine's notion of now: the wall clock, or a fixed instant a story moves by hand."""

    at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(UTC)

    def set(self, when: datetime) -> datetime:
        self.at = when
        return when

    def advance(self, **delta: float) -> datetime:
        return self.set(self() + timedelta(**delta))


class Lrs:
    """A learning platform reporting results to the LRS: xAPI statements over ``requests``."""

    def __init__(self, base_url: str, key: str, secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (key, secret)  # the LRS issues each client an HTTP Basic key and secret
        self.session.headers.update({"X-Experience-API-Version": XAPI_VERSION})

    def post(self, *statements: dict[str, Any]) -> list[str]:
        response = self.session.post(f"{self.base_url}/xAPI/statements", json=list(statements), timeout=10)
        response.raise_for_status()
        return list(response.json())

    def completion(
        self, learner: str | dict[str, Any], course: str, *, product_line: str, when: datetime,
        score: float = 0.9, verb: str = "passed", name: str | None = None,
    ) -> str:
        """A learner's result for a course. ``learner``: an email (sent as ``mailto:``) or an xAPI agent."""
        actor = learner if isinstance(learner, dict) else {"objectType": "Agent", "mbox": f"mailto:{learner}"}
        if name:
            actor = {**actor, "name": name}
        statement = {
            "id": str(uuid.uuid4()),
            "actor": actor,
            "verb": {"id": VERBS + verb, "display": {"en-US": verb}},
            "object": {
                "objectType": "Activity",
                "id": f"https://lms.example.com/courses/{course}",
                "definition": {"name": {"en-US": course.replace("-", " ").title()},
                               "extensions": {PRODUCT_LINE_EXT: product_line}},
            },
            "result": {"score": {"scaled": score}, "success": verb != "failed", "completion": True},
            "timestamp": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
        return self.post(statement)[0]


class Odoo:
    """Finance working in Odoo through its external JSON-RPC API (``requests``)."""

    def __init__(self, base_url: str, database: str, login: str, api_key: str) -> None:
        self.url = base_url.rstrip("/") + "/jsonrpc"
        self.database, self.api_key = database, api_key
        self.session = requests.Session()
        self._ids = itertools.count(1)
        self.uid = self._call("common", "authenticate", [database, login, api_key, {}])

    def _call(self, service: str, method: str, args: list[Any]) -> Any:
        payload = {"jsonrpc": "2.0", "method": "call", "id": next(self._ids),
                   "params": {"service": service, "method": method, "args": args}}
        body = self.session.post(self.url, json=payload, timeout=10).json()
        if "error" in body:
            raise AssertionError(f"Odoo refused {service}.{method}: {body['error']}")
        return body["result"]

    def execute(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._call("object", "execute_kw", [self.database, self.uid, self.api_key, model, method,
                                                   list(args), kwargs])

    def read(self, model: str, domain: list[Any], fields: list[str]) -> list[dict[str, Any]]:
        return list(self.execute(model, "search_read", domain, fields=fields, order="id asc"))

    # -- what finance does -----------------------------------------------------------------
    def invoice(self, opportunity_ref: str, amount: float, day: date, *, customer: str = "Customer") -> int:
        """A posted customer invoice for a won deal, carrying the deal's id in the CRM (``x_opportunity_ref``),
        as a CRM-to-ERP quote brings it over."""
        partner = self.execute("res.partner", "create", {"name": customer, "is_company": True})
        move = self.execute("account.move", "create", {
            "move_type": "out_invoice", "partner_id": partner, "x_opportunity_ref": opportunity_ref,
            "amount_total": amount, "invoice_date": day.isoformat()})
        self.execute("account.move", "action_post", [move])
        return int(move)

    def register_payment(self, move_id: int, amount: float, day: date, *, payment_type: str = "inbound") -> int:
        """Odoo's "Register Payment" on a move: money in for invoices, out for bills and refunds."""
        [move] = self.execute("account.move", "read", [move_id], ["partner_id", "move_type"])
        payment = self.execute("account.payment", "create", {
            "amount": amount, "payment_type": payment_type,
            "partner_type": "supplier" if move["move_type"].startswith("in_") else "customer",
            "partner_id": move["partner_id"][0] if move["partner_id"] else False,
            "date": day.isoformat(), "x_invoice_ids": [move_id]})
        self.execute("account.payment", "action_post", [payment])
        return int(payment)

    def credit_note(self, invoice_id: int, amount: float, day: date) -> int:
        """"Reverse" on an invoice: a posted customer credit note (``out_refund``) for ``amount``."""
        [invoice] = self.execute("account.move", "read", [invoice_id], ["partner_id", "x_opportunity_ref", "name"])
        move = self.execute("account.move", "create", {
            "move_type": "out_refund", "partner_id": invoice["partner_id"][0], "reversed_entry_id": invoice_id,
            "x_opportunity_ref": invoice["x_opportunity_ref"], "ref": f"Reversal of: {invoice['name']}",
            "amount_total": amount, "invoice_date": day.isoformat()})
        self.execute("account.move", "action_post", [move])
        return int(move)

    def pay_bill(self, bill_id: int, day: date) -> int:
        """Accounts payable confirms a vendor bill and pays it in full."""
        [bill] = self.execute("account.move", "read", [bill_id], ["state", "amount_total"])
        if bill["state"] != "posted":
            self.execute("account.move", "action_post", [bill_id])
        return self.register_payment(bill_id, float(bill["amount_total"]), day, payment_type="outbound")


@dataclass
class Prm:
    """What a PRM user does in the PRM store (its own system: no client library but ours)."""

    store: Store

    def save(self, *items: CanonicalRecord) -> None:
        with self.store.session() as session:
            records.save_records(session, list(items))

    def get(self, entity: str, record_id: str) -> Any:
        with self.store.session(readonly=True) as session:
            return records.get_record(session, entity, record_id)

    def all(self, entity: str) -> list[Any]:
        with self.store.session(readonly=True) as session:
            return records.list_records(session, entity)

    def find(self, entity: str, system: str, remote_id: str) -> Any:
        """The PRM record linked to a remote record (how finance looks up a deal's PRM reference)."""
        with self.store.session(readonly=True) as session:
            return records.find_by_external_id(session, entity, system, remote_id)

    def edit(self, entity: str, record_id: str, **changes: Any) -> Any:
        """Change fields of a stored record as a PRM user's save would (``updated_at`` moves)."""
        current = self.get(entity, record_id)
        assert current is not None, f"no {entity} {record_id} in the PRM store"
        updated = current.model_copy(update={**changes, "updated_at": datetime.now(UTC)})
        self.save(updated)
        return updated


@dataclass
class World:
    env: SyncEnv
    clock: Clock = field(default_factory=Clock)
    reports: list[RunReport] = field(default_factory=list)

    @property
    def systems(self) -> list[str]:
        return list(self.env.cluster.systems)

    @property
    def prm(self) -> Prm:
        return Prm(self.env.runtime.store)

    def _state(self, system: str) -> dict[str, Any]:
        return self.env.cluster.state()["systems"][system]

    @property
    def salesforce(self) -> Salesforce:
        return salesforce_client(self._state("salesforce"))

    @property
    def hubspot(self) -> HubSpot:
        return hubspot_client(self._state("hubspot"))

    @property
    def lrs(self) -> Lrs:
        info = self._state("lms")
        return Lrs(info["base_url"], info["key"], info["secret"])

    @property
    def odoo(self) -> Odoo:
        info = self._state("erp")
        return Odoo(info["base_url"], info["database"], info["login"], info["access_token"])

    # -- reading back what people see ------------------------------------------------------
    def salesforce_records(self, soql: str) -> list[dict[str, Any]]:
        """A SOQL query through simple-salesforce, every page, without the ``attributes`` noise."""
        rows = self.salesforce.query_all(soql)["records"]
        return [{k: v for k, v in row.items() if k != "attributes"} for row in rows]

    def salesforce_by_prm_id(self, sobject: str, prm_id: str, fields: str) -> dict[str, Any]:
        """The one Salesforce record carrying ``PRM_Id__c = prm_id`` (fails the test when absent)."""
        rows = self.salesforce_records(f"SELECT {fields} FROM {sobject} WHERE PRM_Id__c = '{prm_id}'")
        assert len(rows) == 1, f"{len(rows)} {sobject} records carry PRM_Id__c {prm_id!r}"
        return rows[0]

    def hubspot_by_prm_id(self, object_type: str, prm_id: str, properties: list[str]) -> dict[str, Any]:
        """The HubSpot record whose unique ``prm_id`` is ``prm_id``: its properties (and ``id``)."""
        found = self.hubspot.crm.objects.basic_api.get_by_id(
            object_type, prm_id, id_property="prm_id", properties=properties)
        return {**found.properties, "id": found.id}

    # -- running the product ---------------------------------------------------------------
    def sync(self, *, allow_failures: bool = False, systems: list[str] | None = None, **scope: Any) -> RunReport:
        """One engine run (channel rules included) at the world's clock."""
        engine = self.env.runtime.engine(systems or self.systems, clock=self.clock)
        report = engine.run(SyncScope(systems=systems, **scope), trigger="cli")
        self.reports.append(report)
        failures = [f for s in report.slices for f in s.failures]
        if not allow_failures:
            assert not failures, f"run {report.run_id} had failed records: {failures}"
            assert report.status == "succeeded", report
        return report

    def writes(self, report: RunReport) -> int:
        """Remote writes a run made, from its write ledger."""
        with self.env.runtime.store.session(readonly=True) as session:
            return count_writes(session, report.run_id)

    def assert_settled(self) -> RunReport:
        """A sync that changes nothing anywhere: what must follow every story."""
        report = self.sync()
        totals = report.totals()
        changed = {k: totals[k] for k in ("created", "updated", "deleted", "failed", "conflicts") if totals[k]}
        assert not changed, f"a settled world changed: {changed} in {report.slices}"
        assert self.writes(report) == 0, f"a settled world wrote {self.writes(report)} remote records"
        assert not report.rule_decisions, f"a settled world still decided {report.rule_decisions}"
        return report

    def cli(self, *args: str) -> CliResult:
        """``prm-sync ARGS`` on this world's config and store (``PRM_SYNC_DATABASE_URL`` names the store)."""
        url = self.env.runtime.store.engine.url.render_as_string(hide_password=False)
        previous = os.environ.get(ENV_DATABASE_URL)
        os.environ[ENV_DATABASE_URL] = url
        try:
            return self.env.cli(*args)
        finally:
            if previous is None:
                os.environ.pop(ENV_DATABASE_URL, None)
            else:
                os.environ[ENV_DATABASE_URL] = previous

    def set_rule(self, system: str, entity: str, prm_field: str, rule: str) -> None:
        """RevOps changes one field's conflict rule in ``mappings/<system>.yaml`` (a copy), effective next run."""

        def change(obj: dict[str, Any]) -> None:
            [spec] = [f for f in obj["fields"] if f.get("prm") == prm_field]
            spec["rule"] = rule

        self._edit_mapping(system, entity, change)

    def set_policy(self, system: str, entity: str, **policies: Any) -> None:
        """RevOps changes an object's lifecycle policies (``on_delete=``, ``on_unmatched=``), effective next run."""
        self._edit_mapping(system, entity, lambda obj: obj.update(policies))

    def _edit_mapping(self, system: str, entity: str, change: Callable[[dict[str, Any]], None]) -> None:
        folder = self.env.work_dir / "mappings"
        if not folder.exists():
            self.env.copy_mappings(folder)
        path = folder / f"{system}.yaml"
        doc = yaml.safe_load(path.read_text())
        [obj] = [o for o in doc["objects"] if o["entity"] == entity]
        change(obj)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.env.reload_mappings(folder)
        config = self.env.work_dir / "prm_sync.yaml"
        if config.exists():
            self.env.write_config(config)  # the CLI sees the same mappings


MakeWorld = Callable[..., World]


@pytest.fixture
def make_world(make_sync_env: MakeSyncEnv) -> Iterator[MakeWorld]:
    """Factory: ``make_world(systems=("salesforce", "hubspot"), store=None)``: an empty world."""

    def make(*, systems: tuple[str, ...] = SYSTEMS, store: Store | None = None, **env: Any) -> World:
        return World(make_sync_env(systems=systems, store=store, seed_data=False, **env))

    yield make


@pytest.fixture
def world(make_world: MakeWorld) -> World:
    """All four systems, empty, on a SQLite store."""
    return make_world()
