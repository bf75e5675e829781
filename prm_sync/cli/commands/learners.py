"""``learners``: LMS learners and the partner contacts they resolve to.

A completion in the LMS names only its learner (an email, or an LMS
account); the sync ties it to a partner contact, and through it to a partner
(``prm_sync.rules.learners``). Those it cannot tie are kept and listed here,
so someone can add the missing contact (the next sync then credits every
completion the learner already has) or recognise people who are no partner's.
"""

from __future__ import annotations

import typer

from prm_sync.cli.app import app
from prm_sync.cli.context import MAX_LIMIT, state
from prm_sync.cli.output import console, print_json, print_table

learners_app = typer.Typer(help="LMS learners and the partner contacts they resolve to.", no_args_is_help=True)
app.add_typer(learners_app, name="learners")


@learners_app.command("unmatched")
def unmatched(
    limit: int = typer.Option(200, "--limit", min=1, max=MAX_LIMIT, help="Show at most this many learners (most recent first)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Learners with LMS results who are no partner contact: their completions count for no partner yet."""
    from prm_sync.rules.learners import count_unmatched_learners, unmatched_learners
    from prm_sync.runtime import open_store

    store = open_store(state.config())
    try:
        with store.session(readonly=True) as session:
            found = unmatched_learners(session, limit=limit)
            total = count_unmatched_learners(session)
    finally:
        store.close()
    if json_output:
        print_json({"total": total, "learners": [u.model_dump(mode="json") for u in found]})
        return
    shown = f" (the {len(found)} most recent shown)" if total > len(found) else ""
    print_table(
        f"{total} learner{'s' if total != 1 else ''} matching no partner contact{shown}",
        ["learner", "completions", "passed", "product lines", "last completed"],
        [(u.learner, u.completions, u.passed, ", ".join(u.product_lines), u.last_completed_at.date().isoformat())
         for u in found],
    )
    if total:
        console.print("add a learner as a partner contact with that email (in the PRM or a CRM): the next "
                      "`prm-sync sync` credits every completion they already have to their partner", highlight=False)
