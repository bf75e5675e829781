"""Load generated demo data into running sandboxes, in-process (no API calls spent)."""

from __future__ import annotations

from typing import Any

from connectors.sandbox.cluster import SandboxCluster
from connectors.sandbox.seed import DemoData


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def seed_sandboxes(cluster: SandboxCluster, data: DemoData) -> dict[str, int]:
    """Customers and pipeline into the CRMs, courses and completions into the LMS.

    Partners and registrations are not seeded remotely: they start in the PRM
    store and reach the CRMs through the sync, which is what the demo shows.
    """
    counts: dict[str, int] = {}
    sf = cluster.apps.get("salesforce")
    if sf is not None:
        accounts = data.salesforce["Account"]
        ids = sf.insert_records("Account", [_clean(r) for r in accounts])  # type: ignore[attr-defined]
        by_company = {row["_company"]: rid for row, rid in zip(accounts, ids, strict=True)}
        opps = [{**_clean(r), "AccountId": by_company[r["_account"]]} for r in data.salesforce["Opportunity"]]
        sf.insert_records("Opportunity", opps)  # type: ignore[attr-defined]
        counts["salesforce"] = len(accounts) + len(opps)
    hs = cluster.apps.get("hubspot")
    if hs is not None:
        companies = data.hubspot["companies"]
        ids = hs.insert_records("companies", [_clean(r) for r in companies])  # type: ignore[attr-defined]
        by_company = {row["_company"]: rid for row, rid in zip(companies, ids, strict=True)}
        deals = data.hubspot["deals"]
        deal_ids = hs.insert_records("deals", [_clean(r) for r in deals])  # type: ignore[attr-defined]
        definition = hs.assocs.default("deals", "companies")  # type: ignore[attr-defined]
        with hs.lock:
            for row, deal_id in zip(deals, deal_ids, strict=True):
                hs.assocs.add(definition, deal_id, by_company[row["_company"]])  # type: ignore[attr-defined]
        counts["hubspot"] = len(companies) + len(deals)
    lms = cluster.apps.get("lms")
    if lms is not None:
        for course in data.lms_courses:
            lms.add_course(course["course_id"], course["name"], course["product_line"])  # type: ignore[attr-defined]
        lms.insert_statements(data.lms_statements)  # type: ignore[attr-defined]
        counts["lms"] = len(data.lms_statements)
    return counts
