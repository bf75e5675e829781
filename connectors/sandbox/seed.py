"""Deterministic demo data: partners, customers, pipeline, learning and billing.

One seed and one scale knob give the same world every time, so the demo, the
end-to-end tests and the benchmarks talk about the same records. At scale 1
it is about 200 partners, 2,000 end customers, 5,000 opportunities and 1,000
deal registrations, with deliberate near-duplicate customers (abbreviations,
legal suffixes, typos, ``&``/``and``) and registrations that collide with
another partner's or with direct pipeline, which is what the conflict check
exists for.

The generator returns plain dicts in each system's own field names; seeding
goes through the sandboxes' in-process ``insert_records`` so it costs no API
calls and does not touch the request budget.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Massive",
    "Dynamic",
    "Oceanic",
    "Pied",
    "Piper",
    "Aperture",
    "Black",
    "Mesa",
    "Blue",
    "Sun",
    "Gringotts",
    "Nakatomi",
    "Virtucon",
    "Sirius",
    "Monarch",
    "Gekko",
    "Duff",
    "Krusty",
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Adventure",
    "Litware",
    "Proseware",
    "Woodgrove",
    "Alpine",
    "Coho",
    "Fourth",
    "Coffee",
    "Lucerne",
    "Margie",
    "Trey",
    "Wide",
    "World",
    "Graphic",
    "Bluewave",
    "Silverline",
    "Redstone",
    "Greenfield",
    "Ironbridge",
    "Brightpath",
    "Clearwater",
    "Highland",
    "Summit",
    "Pinnacle",
    "Keystone",
    "Horizon",
    "Vertex",
    "Quantum",
    "Nimbus",
    "Atlas",
    "Zenith",
    "Orion",
]
NOUNS = [
    "Systems",
    "Industries",
    "Logistics",
    "Health",
    "Foods",
    "Energy",
    "Labs",
    "Networks",
    "Capital",
    "Manufacturing",
    "Retail",
    "Media",
    "Pharma",
    "Robotics",
    "Analytics",
    "Motors",
    "Textiles",
    "Airlines",
    "Insurance",
    "Telecom",
    "Software",
    "Bank",
    "Mining",
    "Chemicals",
    "Hotels",
    "Shipping",
]
SUFFIXES = ["Inc", "Inc.", "LLC", "Ltd", "GmbH", "Corp", "Corporation", "S.A.", "AG", "PLC", "Co.", ""]
PARTNER_NOUNS = [
    "Solutions",
    "Consulting",
    "Partners",
    "IT Services",
    "Integrators",
    "Cloud",
    "Tech",
    "Group",
]
CITIES = [
    ("US", "New York", "+1 212"),
    ("US", "Austin", "+1 512"),
    ("US", "Chicago", "+1 312"),
    ("US", "Seattle", "+1 206"),
    ("GB", "London", "+44 20"),
    ("GB", "Manchester", "+44 161"),
    ("DE", "Berlin", "+49 30"),
    ("DE", "Munich", "+49 89"),
    ("FR", "Paris", "+33 1"),
    ("NL", "Amsterdam", "+31 20"),
    ("JP", "Tokyo", "+81 3"),
    ("AU", "Sydney", "+61 2"),
]
TERRITORY = {"US": "NA", "GB": "EMEA", "DE": "EMEA", "FR": "EMEA", "NL": "EMEA", "JP": "APJ", "AU": "APJ"}
INDUSTRIES = ["Technology", "Banking", "Healthcare", "Retail", "Manufacturing", "Consulting", "Education", "Agriculture"]
PRODUCT_LINES = ["platform", "analytics", "security", "services"]
PARTNER_TYPES = ["reseller", "distributor", "system_integrator", "msp", "isv", "referral"]
TIERS = ["registered", "silver", "gold", "platinum"]
SF_STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]
HS_STAGES = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "contractsent",
    "closedwon",
    "closedlost",
]
FIRST_NAMES = [
    "Ana",
    "Ben",
    "Chen",
    "Dana",
    "Eli",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jo",
    "Kofi",
    "Lena",
    "Mia",
    "Noor",
    "Omar",
    "Pia",
]
LAST_NAMES = [
    "Smith",
    "Garcia",
    "Muller",
    "Tanaka",
    "Okafor",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Silva",
    "Nguyen",
    "Haddad",
    "Berg",
]


@dataclass
class Company:
    """A real-world customer; CRMs hold it under slightly different spellings."""

    key: str
    name: str
    domain: str
    country: str
    city: str
    phone: str
    street: str
    industry: str


@dataclass
class DemoData:
    seed: int
    scale: float
    now: datetime
    companies: list[Company] = field(default_factory=list)
    partners: list[dict[str, Any]] = field(default_factory=list)  # canonical Partner fields
    partner_contacts: list[dict[str, Any]] = field(default_factory=list)  # canonical PartnerContact fields
    registrations: list[dict[str, Any]] = field(default_factory=list)  # canonical DealRegistration fields
    salesforce: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # object -> rows
    hubspot: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lms_courses: list[dict[str, Any]] = field(default_factory=list)
    lms_statements: list[dict[str, Any]] = field(default_factory=list)
    # which registrations were generated to collide, for tests and the demo summary
    expected_conflicts: set[str] = field(default_factory=set)


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def name_variant(rng: random.Random, name: str) -> str:
    """How a partner or a rep might type a customer's name."""
    words = name.split()
    choice = rng.randrange(6)
    if choice == 0 and len(words) >= 2:  # acronym of the first words
        return "".join(w[0] for w in words[:-1] if w[0].isalpha()).upper() + " " + words[-1]
    if choice == 1:  # another legal suffix
        base = " ".join(w for w in words if w.strip(".") not in {s.strip(".") for s in SUFFIXES if s})
        return f"{base} {rng.choice([s for s in SUFFIXES if s])}"
    if choice == 2 and len(name) > 6:  # a typo: swap two letters
        i = rng.randrange(1, len(name) - 2)
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    if choice == 3:
        return name.replace(" and ", " & ") if " and " in name else name.upper()
    if choice == 4:
        return name.lower()
    return name


def generate(seed: int = 7, scale: float = 1.0, now: datetime | None = None) -> DemoData:
    rng = random.Random(seed)
    now = (now or datetime(2026, 11, 2, 9, 0, tzinfo=UTC)).astimezone(UTC)
    data = DemoData(seed=seed, scale=scale, now=now)
    n_partners = max(4, int(200 * scale))
    n_companies = max(20, int(2000 * scale))
    n_opps = max(40, int(5000 * scale))
    n_regs = max(10, int(1000 * scale))

    used: set[str] = set()
    # a third more companies than the CRMs hold: net-new prospects partners bring in
    for i in range(n_companies + n_companies // 2):
        while True:
            base = f"{rng.choice(WORDS)} {rng.choice(NOUNS)}"
            if rng.random() < 0.1:
                base = f"{rng.choice(WORDS)} and {rng.choice(WORDS)} {rng.choice(NOUNS)}"
            if base not in used:
                used.add(base)
                break
        suffix = rng.choice(SUFFIXES)
        country, city, prefix = rng.choice(CITIES)
        data.companies.append(
            Company(
                key=f"c{i:06d}",
                name=f"{base} {suffix}".strip(),
                domain=f"{_slug(base)}.com",
                country=country,
                city=city,
                phone=f"{prefix} {rng.randrange(1000000, 9999999)}",
                street=f"{rng.randrange(1, 400)} {rng.choice(['Main', 'High', 'Market', 'Park', 'Station'])} St",
                industry=rng.choice(INDUSTRIES),
            )
        )

    for i in range(n_partners):
        country, city, prefix = rng.choice(CITIES)
        name = f"{rng.choice(WORDS)} {rng.choice(PARTNER_NOUNS)} {i}"
        domain = f"{_slug(name)}.example"
        data.partners.append(
            {
                "id": f"ptn_demo{i:05d}",
                "name": name,
                "partner_type": rng.choice(PARTNER_TYPES),
                "tier": rng.choices(TIERS, weights=[4, 3, 2, 1])[0],
                "status": "active" if rng.random() > 0.05 else "suspended",
                "program": "default",
                "territory": TERRITORY[country],
                "domain": domain,
                "website": f"https://www.{domain}",
                "phone": f"{prefix} {rng.randrange(1000000, 9999999)}",
                "city": city,
                "country": country,
            }
        )
        for j in range(rng.randint(1, 3)):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            data.partner_contacts.append(
                {
                    "id": f"pcn_demo{i:05d}{j}",
                    "partner_id": f"ptn_demo{i:05d}",
                    "first_name": first,
                    "last_name": last,
                    "email": f"{first.lower()}.{last.lower()}{j}@{domain}",
                    "title": rng.choice(["Sales Engineer", "Account Executive", "Consultant", "Architect"]),
                }
            )

    # CRMs: 60 % of customers live in Salesforce, the rest in HubSpot.
    sf_accounts: list[dict[str, Any]] = []
    hs_companies: list[dict[str, Any]] = []
    in_crm = data.companies[:n_companies]
    split = int(len(in_crm) * 0.6)
    for company in in_crm[:split]:
        sf_accounts.append(
            {
                "Name": company.name,
                "Type": "Customer" if rng.random() < 0.4 else "Prospect",
                "Website": f"https://www.{company.domain}/",
                "Phone": company.phone,
                "BillingStreet": company.street,
                "BillingCity": company.city,
                "BillingCountry": company.country,
                "Industry": company.industry,
                "_company": company.key,
            }
        )
    for company in in_crm[split:]:
        hs_companies.append(
            {
                "name": company.name,
                "domain": company.domain,
                "website": f"https://{company.domain}",
                "phone": company.phone,
                "city": company.city,
                "country": company.country,
                "industry": company.industry.upper(),
                "lifecyclestage": "customer" if rng.random() < 0.4 else "opportunity",
                "_company": company.key,
            }
        )

    sf_opps: list[dict[str, Any]] = []
    hs_deals: list[dict[str, Any]] = []
    for i in range(n_opps):
        in_sf = i % 5 < 3
        accounts = sf_accounts if in_sf else hs_companies
        owner = rng.choice(accounts[: max(1, len(accounts) // 2)])  # direct pipeline covers half the accounts
        amount = round(rng.uniform(5_000, 250_000), 2)
        close = (now + timedelta(days=rng.randint(-120, 180))).date()
        stage_index = rng.choices(range(6), weights=[4, 4, 3, 2, 2, 1])[0]
        name = f"{owner.get('Name') or owner.get('name')} - {rng.choice(PRODUCT_LINES).title()} {i}"
        if in_sf:
            sf_opps.append(
                {
                    "Name": name[:120],
                    "StageName": SF_STAGES[stage_index],
                    "CloseDate": close.isoformat(),
                    "Amount": amount,
                    "_account": owner["_company"],
                }
            )
        else:
            hs_deals.append(
                {
                    "dealname": name,
                    "dealstage": HS_STAGES[stage_index],
                    "pipeline": "default",
                    "closedate": f"{close.isoformat()}T00:00:00Z",
                    "amount": str(amount),
                    "_company": owner["_company"],
                }
            )
    data.salesforce = {"Account": sf_accounts, "Opportunity": sf_opps}
    data.hubspot = {"companies": hs_companies, "deals": hs_deals}

    # Registrations: most for distinct customers, ~8 % deliberately for a customer another
    # partner already registered, and ~5 % for a customer with open direct pipeline.
    open_pipeline = {o["_account"] for o in sf_opps if not o["StageName"].startswith("Closed")}
    registered: list[tuple[str, str]] = []  # (company key, partner id)
    for i in range(n_regs):
        partner = rng.choice(data.partners)
        roll = rng.random()
        if registered and roll < 0.08:
            company_key, first_partner = rng.choice(registered)
            while partner["id"] == first_partner and len(data.partners) > 1:
                partner = rng.choice(data.partners)
            data.expected_conflicts.add(f"reg_demo{i:05d}")
        elif roll < 0.13 and open_pipeline:
            company_key = rng.choice(sorted(open_pipeline))
        else:
            company_key = rng.choice(data.companies).key
        company = data.companies[int(company_key[1:])]
        submitted = now - timedelta(days=rng.randint(1, 150), hours=rng.randint(0, 23))
        status = rng.choices(["submitted", "under_review", "approved", "rejected"], weights=[3, 1, 5, 1])[0]
        approved_at = submitted + timedelta(days=rng.randint(1, 5)) if status == "approved" else None
        expires_at = approved_at + timedelta(days=90) if approved_at else None
        email_domain = company.domain if rng.random() < 0.8 else rng.choice(["gmail.com", "outlook.com"])
        data.registrations.append(
            {
                "id": f"reg_demo{i:05d}",
                "partner_id": partner["id"],
                "customer_name": name_variant(rng, company.name),
                "customer_domain": company.domain if rng.random() < 0.7 else None,
                "customer_country": company.country,
                "customer_city": company.city,
                "customer_phone": company.phone if rng.random() < 0.5 else None,
                "contact_email": f"buyer{i}@{email_domain}",
                "product_lines": sorted(rng.sample(PRODUCT_LINES, rng.randint(1, 2))),
                "amount": round(rng.uniform(10_000, 200_000), 2),
                "currency": "USD",
                "status": status,
                "submitted_at": submitted,
                "approved_at": approved_at,
                "expires_at": expires_at,
            }
        )
        registered.append((company_key, partner["id"]))

    # LMS: one course per product line; completions by partner contacts.
    for line in PRODUCT_LINES:
        data.lms_courses.append(
            {
                "course_id": f"https://lms.example.com/courses/{line}-certified",
                "name": f"{line.title()} Certified Professional",
                "product_line": line,
            }
        )
    for contact in data.partner_contacts:
        for course in rng.sample(data.lms_courses, rng.randint(0, 2)):
            when = now - timedelta(days=rng.randint(1, 500))
            score = round(rng.uniform(0.5, 1.0), 2)
            data.lms_statements.append(
                {
                    "actor": {
                        "objectType": "Agent",
                        "name": f"{contact['first_name']} {contact['last_name']}",
                        "mbox": f"mailto:{contact['email']}",
                    },
                    "verb": {
                        "id": "http://adlnet.gov/expapi/verbs/passed"
                        if score >= 0.7
                        else "http://adlnet.gov/expapi/verbs/failed",
                        "display": {"en-US": "passed" if score >= 0.7 else "failed"},
                    },
                    "object": {
                        "objectType": "Activity",
                        "id": course["course_id"],
                        "definition": {
                            "name": {"en-US": course["name"]},
                            "extensions": {"https://prm-sync.dev/xapi/product-line": course["product_line"]},
                        },
                    },
                    "result": {"score": {"scaled": score}, "success": score >= 0.7, "completion": True},
                    "timestamp": when.isoformat().replace("+00:00", "Z"),
                }
            )
    return data
