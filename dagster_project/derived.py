"""PRM-side results of the channel rules: attributions on closed-won deals, and the payouts they earn.

The rules run inside the engine (its rule hook, between pulls and pushes),
so ``prm/attributions`` has nothing to compute: it records what the opportunity
syncs upstream produced. ``prm/payouts`` calls ``compute_payouts`` for the
current period, which is idempotent (frozen periods are left alone), so the
ERP payout push downstream always sees this period's accrual.
"""


from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset

from dagster_project.catalog import ATTRIBUTIONS_KEY, MAPPINGS_KEY, PRM_PAYOUTS_KEY
from dagster_project.metadata import table
from dagster_project.runtime import friendly_errors
from prm_sync.model import Attribution, Closure, Payout
from prm_sync.rules.payouts import compute_payouts, period_of
from prm_sync.store.records import list_records

RECENT = 25


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def build_attributions_asset(deps: list[AssetKey]) -> AssetsDefinition:
    @asset(
        key=ATTRIBUTIONS_KEY,
        group_name="prm",
        deps=[MAPPINGS_KEY, *deps],
        description="Closures and partner attributions the channel rules made as opportunities closed "
        "(computed during the opportunity syncs; a deal is attributed once however often it syncs).",
        required_resource_keys={"prm_store"},
    )
    def attributions(context: AssetExecutionContext) -> MaterializeResult:
        with friendly_errors():
            store = context.resources.prm_store.open()
        try:
            with store.session(readonly=True) as session:
                closures = [c for c in list_records(session, Closure.entity) if isinstance(c, Closure)]
                atts = [a for a in list_records(session, Attribution.entity) if isinstance(a, Attribution)]
        finally:
            store.close()
        live = [a for a in atts if not a.reversed]
        by_role: Counter[str] = Counter()
        for a in live:
            by_role[str(a.role)] += 1
        recent = sorted(live, key=lambda a: a.updated_at, reverse=True)[:RECENT]
        rows = [{"attribution": a.id, "opportunity": a.opportunity_id, "partner": a.partner_id, "role": str(a.role),
                 "split_pct": float(a.split_pct), "amount": _money(a.amount), "currency": a.currency} for a in recent]
        cols = [("attribution", "string"), ("opportunity", "string"), ("partner", "string"), ("role", "string"),
                ("split_pct", "float"), ("amount", "float"), ("currency", "string")]
        won = sum(1 for c in closures if str(c.outcome) == "won")
        return MaterializeResult(metadata={
            "closures": MetadataValue.int(len(closures)),
            "closed_won": MetadataValue.int(won),
            "attributions": MetadataValue.int(len(live)),
            "reversed": MetadataValue.int(len(atts) - len(live)),
            "attributed_amount": MetadataValue.float(_money(sum((a.amount for a in live), Decimal("0")))),
            "by_role": MetadataValue.json(dict(by_role)),
            "recent": table(rows, cols),
        })

    return attributions


def build_payouts_asset(deps: list[AssetKey]) -> AssetsDefinition:
    @asset(
        key=PRM_PAYOUTS_KEY,
        group_name="prm",
        deps=[ATTRIBUTIONS_KEY, *deps],
        description="This period's partner payouts: commission accrued on paid invoices, netting refunds "
        "(clawbacks) against earlier payouts; submitted periods stay frozen.",
        required_resource_keys={"prm_store"},
    )
    def payouts(context: AssetExecutionContext) -> MaterializeResult:
        now = datetime.now(UTC)
        period = period_of(now)
        with friendly_errors():
            store = context.resources.prm_store.open()
        try:
            with friendly_errors(), store.session() as session:
                current = compute_payouts(session, period, now, run_id=None)
            with store.session(readonly=True) as session:
                every = [p for p in list_records(session, Payout.entity) if isinstance(p, Payout)]
        finally:
            store.close()
        rows = [{"payout": p.id, "partner": p.partner_id, "period": p.period, "status": str(p.status),
                 "amount": _money(p.amount), "clawback": _money(p.clawback), "currency": p.currency} for p in current]
        cols = [("payout", "string"), ("partner", "string"), ("period", "string"), ("status", "string"),
                ("amount", "float"), ("clawback", "float"), ("currency", "string")]
        pending = [p for p in every if str(p.status) == "pending"]
        return MaterializeResult(metadata={
            "period": MetadataValue.text(period),
            "payouts_this_period": MetadataValue.int(len(current)),
            "pending_amount": MetadataValue.float(_money(sum((p.amount for p in pending), Decimal("0")))),
            "clawback_amount": MetadataValue.float(_money(sum((p.clawback for p in current), Decimal("0")))),
            "payouts": table(rows, cols),
        })

    return payouts
