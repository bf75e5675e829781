"""The channel reports, as DuckDB SQL over the exported PRM tables.

Definitions (they matter more than the SQL):

- *sourced* pipeline: open opportunities whose registered partner (the
  approved, protected registration) is the partner; *influenced* pipeline:
  open opportunities a partner has a live registration on without being the
  registered partner. Quarters follow the opportunity's close date.
- *sourced* / *influenced* revenue: the amount of closed-won deals where the
  partner holds a live (not reversed) attribution in that role; *credit* is
  the attributed amount itself (amount x split). Quarters follow the close date.
- registration conversion: approved = ever approved (``approved_at`` set),
  win rate = won / approved; conflict rate = (conflict + review) / checked.
  Quarters follow the submission date.
- time to approve: hours from submission to approval, median and p90.
- certification coverage: contacts with an active (or expiring) certification
  over all contacts of the partner, and the product lines covered.
- payouts: owed = pending + submitted, paid, clawbacks, per partner and period.
"""

from __future__ import annotations

from dataclasses import dataclass

MACROS = [
    "CREATE OR REPLACE MACRO qtr(d) AS CASE WHEN d IS NULL THEN 'undated' "
    "ELSE year(d)::VARCHAR || '-Q' || quarter(d)::VARCHAR END",
    "CREATE OR REPLACE MACRO money(x) AS round(coalesce(x, 0)::DOUBLE, 2)",
    "CREATE OR REPLACE MACRO ratio(a, b) AS CASE WHEN coalesce(b, 0) = 0 THEN NULL ELSE round(a / b, 4) END",
]

PARTNER_PERFORMANCE = """
WITH sourced_pipe AS (
    SELECT registered_partner_id AS partner_id, qtr(close_date) AS quarter,
           sum(amount) AS pipeline, count(*) AS deals
    FROM opportunity WHERE NOT is_closed AND registered_partner_id IS NOT NULL GROUP BY ALL
), influenced_pipe AS (
    SELECT r.partner_id, qtr(o.close_date) AS quarter, sum(o.amount) AS pipeline
    FROM deal_registration r JOIN opportunity o ON o.id = r.opportunity_id
    WHERE NOT o.is_closed AND o.registered_partner_id IS DISTINCT FROM r.partner_id
      AND r.status IN ('submitted', 'under_review', 'approved')
    GROUP BY ALL
), revenue AS (
    SELECT a.partner_id, qtr(c.close_date) AS quarter,
           sum(c.amount) FILTER (WHERE a.role = 'sourced') AS sourced,
           sum(c.amount) FILTER (WHERE a.role = 'influenced') AS influenced,
           sum(a.amount) AS credit,
           count(DISTINCT c.id) FILTER (WHERE a.role = 'sourced') AS deals_won
    FROM attribution a JOIN closure c ON c.id = a.closure_id
    WHERE NOT a.reversed AND c.outcome = 'won'
    GROUP BY ALL
), keys AS (
    SELECT partner_id, quarter FROM sourced_pipe
    UNION SELECT partner_id, quarter FROM influenced_pipe
    UNION SELECT partner_id, quarter FROM revenue
)
SELECT k.partner_id, p.name AS partner_name, coalesce(p.tier, 'unknown') AS tier, k.quarter,
       money(sp.pipeline) AS sourced_pipeline, coalesce(sp.deals, 0) AS sourced_open_deals,
       money(ip.pipeline) AS influenced_pipeline,
       money(rv.sourced) AS sourced_revenue, money(rv.influenced) AS influenced_revenue,
       money(rv.credit) AS attributed_credit, coalesce(rv.deals_won, 0) AS deals_won
FROM keys k
LEFT JOIN partner p ON p.id = k.partner_id
LEFT JOIN sourced_pipe sp ON sp.partner_id = k.partner_id AND sp.quarter = k.quarter
LEFT JOIN influenced_pipe ip ON ip.partner_id = k.partner_id AND ip.quarter = k.quarter
LEFT JOIN revenue rv ON rv.partner_id = k.partner_id AND rv.quarter = k.quarter
ORDER BY k.quarter, partner_name, k.partner_id
"""

TIER_PERFORMANCE = f"""
SELECT tier, quarter, count(DISTINCT partner_id) AS partners,
       money(sum(sourced_pipeline)) AS sourced_pipeline, money(sum(influenced_pipeline)) AS influenced_pipeline,
       money(sum(sourced_revenue)) AS sourced_revenue, money(sum(influenced_revenue)) AS influenced_revenue,
       money(sum(attributed_credit)) AS attributed_credit, sum(deals_won)::BIGINT AS deals_won
FROM ({PARTNER_PERFORMANCE}) GROUP BY ALL ORDER BY quarter, tier
"""

REGISTRATION_CONVERSION = """
SELECT coalesce(p.tier, 'unknown') AS tier, qtr(r.submitted_at) AS quarter, count(*) AS registrations,
       count(*) FILTER (WHERE r.approved_at IS NOT NULL) AS approved,
       count(*) FILTER (WHERE r.status = 'rejected') AS rejected,
       count(*) FILTER (WHERE r.status = 'won') AS won,
       count(*) FILTER (WHERE r.status = 'lost') AS lost,
       count(*) FILTER (WHERE r.status = 'expired') AS expired,
       ratio(count(*) FILTER (WHERE r.approved_at IS NOT NULL), count(*)) AS approval_rate,
       ratio(count(*) FILTER (WHERE r.status = 'won'), count(*) FILTER (WHERE r.approved_at IS NOT NULL)) AS win_rate,
       count(*) FILTER (WHERE r.conflict_decision IS NOT NULL) AS checked,
       count(*) FILTER (WHERE r.conflict_decision = 'conflict') AS conflicts,
       count(*) FILTER (WHERE r.conflict_decision = 'review') AS reviews,
       ratio(count(*) FILTER (WHERE r.conflict_decision IN ('conflict', 'review')),
             count(*) FILTER (WHERE r.conflict_decision IS NOT NULL)) AS conflict_rate
FROM deal_registration r LEFT JOIN partner p ON p.id = r.partner_id
GROUP BY ALL ORDER BY quarter, tier
"""

TIME_TO_APPROVE = """
WITH approved AS (
    SELECT coalesce(p.tier, 'unknown') AS tier, qtr(r.submitted_at) AS quarter,
           epoch(r.approved_at - r.submitted_at) / 3600.0 AS hours
    FROM deal_registration r LEFT JOIN partner p ON p.id = r.partner_id
    WHERE r.approved_at IS NOT NULL AND r.submitted_at IS NOT NULL
)
SELECT tier, quarter, count(*) AS approved, round(avg(hours), 2) AS mean_hours,
       round(quantile_cont(hours, 0.5), 2) AS median_hours, round(quantile_cont(hours, 0.9), 2) AS p90_hours,
       round(max(hours), 2) AS max_hours
FROM approved GROUP BY ALL ORDER BY quarter, tier
"""

CERTIFICATION_COVERAGE = """
WITH people AS (
    SELECT partner_id, count(*) AS contacts FROM partner_contact GROUP BY ALL
), certs AS (
    SELECT partner_id,
           count(DISTINCT lower(learner_email)) FILTER (WHERE status IN ('active', 'expiring')) AS certified_people,
           count(*) FILTER (WHERE status IN ('active', 'expiring')) AS active_certifications,
           count(*) FILTER (WHERE status = 'expiring') AS expiring,
           count(*) FILTER (WHERE status = 'expired') AS expired,
           string_agg(DISTINCT product_line, ', ' ORDER BY product_line)
               FILTER (WHERE status IN ('active', 'expiring')) AS product_lines
    FROM certification WHERE partner_id IS NOT NULL GROUP BY ALL
)
SELECT p.id AS partner_id, p.name AS partner_name, p.tier, coalesce(pe.contacts, 0) AS contacts,
       coalesce(c.certified_people, 0) AS certified_people,
       ratio(coalesce(c.certified_people, 0), pe.contacts) AS coverage,
       coalesce(c.active_certifications, 0) AS active_certifications, coalesce(c.expiring, 0) AS expiring,
       coalesce(c.expired, 0) AS expired, coalesce(c.product_lines, '') AS product_lines
FROM partner p LEFT JOIN people pe ON pe.partner_id = p.id LEFT JOIN certs c ON c.partner_id = p.id
ORDER BY p.tier, p.name, p.id
"""

PAYOUTS = """
SELECT po.partner_id, p.name AS partner_name, p.tier, po.period,
       money(sum(po.amount) FILTER (WHERE po.status IN ('pending', 'submitted'))) AS owed,
       money(sum(po.amount) FILTER (WHERE po.status = 'paid')) AS paid,
       money(sum(po.clawback)) AS clawback,
       count(*) FILTER (WHERE po.status = 'cancelled') AS cancelled
FROM payout po LEFT JOIN partner p ON p.id = po.partner_id
GROUP BY ALL ORDER BY po.period, partner_name, po.partner_id
"""


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    sql: str
    tables: tuple[str, ...]


REPORTS: dict[str, Report] = {
    r.name: r
    for r in (
        Report("partner_performance", "Sourced and influenced pipeline and revenue per partner and quarter",
               PARTNER_PERFORMANCE, ("partner", "opportunity", "deal_registration", "attribution", "closure")),
        Report("tier_performance", "Sourced and influenced pipeline and revenue per tier and quarter",
               TIER_PERFORMANCE, ("partner", "opportunity", "deal_registration", "attribution", "closure")),
        Report("registration_conversion", "Registration approval, win and conflict rates per tier and quarter",
               REGISTRATION_CONVERSION, ("partner", "deal_registration")),
        Report("time_to_approve", "Hours from submission to approval per tier and quarter",
               TIME_TO_APPROVE, ("partner", "deal_registration")),
        Report("certification_coverage", "Certified people and product lines per partner",
               CERTIFICATION_COVERAGE, ("partner", "partner_contact", "certification")),
        Report("payouts", "Commission owed and paid per partner and period", PAYOUTS, ("partner", "payout")),
    )
}
