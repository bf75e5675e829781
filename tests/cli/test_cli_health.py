"""``status``, ``runs`` and ``failures`` as an operator reads them, at 80 and at 120 columns.

One Salesforce world with a refused partner (and the records that hang off
it) and a refused update of a linked one: the tables fit the terminal
(optional columns dropped, only the message wraps, nothing cut), the
failures are grouped by cause with the CRM link and the next command, a
dry-run replay warns that the payload is the one that failed, and
``failures fix --set`` corrects the record and replays it, which Salesforce
then holds.
"""

from __future__ import annotations

import re

import pytest

from connectors.sandbox.http import FaultConfig
from prm_sync.model import utcnow
from prm_sync.store import records

WIDTHS = (80, 120)


def _fits(text: str, width: int) -> None:
    too_long = [line for line in text.splitlines() if len(line.rstrip()) > width]
    assert not too_long, f"lines wider than {width}: {too_long}"
    assert "…" not in text, f"a cell was cut instead of wrapped or dropped:\n{text}"


def _not_cut(text: str, words: set[str]) -> None:
    """Each of ``words`` the output holds is on one line: wrapped between words, never inside one."""
    squashed, tokens = "".join(text.split()), text.split()
    for word in words:
        if word in squashed:
            assert any(word in token for token in tokens), f"{word!r} is cut across lines:\n{text}"


def _commands(text: str) -> list[str]:
    """The ``$ ...`` commands as a shell reads them when pasted: ``\\`` continuations joined, nothing else."""
    joined = re.sub(r" \\\n\s*", " ", text)
    return [line.split("$ ", 1)[1].strip() for line in joined.splitlines() if line.lstrip().startswith("$ ")]


def test_a_next_command_with_an_unbalanced_quote_still_prints() -> None:
    from prm_sync.cli.output import command_lines

    step = "prm-sync failures replay --system hubspot --error-code 'ODD_CODE --dry-run"
    assert _commands("\n".join(command_lines(step, 40))) == [step]


def _flat(text: str) -> str:
    """The table's words in order, whatever the wrapping (box characters and spacing removed)."""
    return " ".join(re.sub(r"[│┃─━┏┓┗┛┡┩╇┳┻┼╋|]", " ", text).split())


@pytest.fixture
def refused_env(make_sync_env):
    env = make_sync_env(systems=("salesforce",))
    salesforce = env.apps["salesforce"]
    created = env.data.partners[0]
    salesforce.faults = FaultConfig(invalid_values={"Name": [created["name"], "Rejected Renamed GmbH"]})
    assert env.cli("sync").exit_code == 5
    # a linked partner renamed to a value the org refuses: an update failure, with a Salesforce record to link to
    with env.runtime.store.session() as session:
        linked = records.get_record(session, "partner", env.data.partners[1]["id"])
        records.save_record(session, linked.model_copy(update={"name": "Rejected Renamed GmbH", "updated_at": utcnow()}))
    assert env.cli("sync", "--entity", "partner").exit_code == 7
    return env


def test_status_runs_and_failures_fit_80_and_120_columns_then_fix_and_replay(
    refused_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tables_fit(refused_env, monkeypatch)
    _show_fix_and_replay(refused_env, monkeypatch)  # same world: one sandbox start and two syncs fewer


def _tables_fit(env, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs: dict[int, dict[str, str]] = {}
    runs = env.cli("runs", "--json").json()
    codes = {f["error_code"] for f in env.cli("failures", "list", "--json").json()}
    for width in WIDTHS:
        monkeypatch.setenv("COLUMNS", str(width))
        outputs[width] = {}
        for name, args in {"status": ["status"], "runs": ["runs"], "run": ["runs", "show", runs[0]["id"]],
                           "groups": ["failures"], "list": ["failures", "list"]}.items():
            done = env.cli(*args)
            assert done.exit_code == 0, done.output
            _fits(done.stdout, width)
            _not_cut(done.stdout, codes | {r["id"] for r in runs})
            outputs[width][name] = done.stdout
    narrow, wide = outputs[80], outputs[120]

    # status: every slice, the refused ones not green, the cause spelled out
    for text in (narrow["status"], wide["status"]):
        assert "sync health: failed" in text  # the last partner run was refused entirely
        flat = _flat(text)
        assert re.search(r"salesforce/partner failed", flat)
        assert "Name: 'Alpine Partners 0' is refused by a validation rule" in flat or "Rejected Renamed GmbH" in flat
        assert "locks: free" in text and "incremental_sync_schedule" in text
    assert "quota" in wide["status"] and "quota" not in narrow["status"].split("\n", 3)[1]

    # runs: newest first, the failed one with its status; more columns when there is room
    assert [r["status"] for r in runs[:2]] == ["failed", "succeeded_with_failures"]
    for text in (narrow["runs"], wide["runs"]):
        assert runs[0]["id"] in text and "succeeded_with_failures" in text
    assert "trigger" in wide["runs"] and "trigger" not in narrow["runs"]
    assert "every record this run tried was refused" in _flat(narrow["run"])

    # failures grouped by cause: the message wraps, never cut; code first in the list
    for text in (narrow["groups"], wide["groups"]):
        flat = _flat(text)
        assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in flat
        assert "no Account with PRM_Id__c = ptn_demo00000 in the CRM" in flat  # the dependents: a missing parent
        assert "$ prm-sync failures fix" in text and "--set name=VALUE" in text
        # a long next command is broken with continuations, so it still pastes as one command
        assert ("prm-sync failures replay --system salesforce --object Deal_Registration__c --error-code "
                "INVALID_FIELD --dry-run") in _commands(text), text
    for text in (narrow["list"], wide["list"]):
        header = next(line for line in text.splitlines() if "error code" in line)
        assert header.split()[:3] == ["error", "code", "message"]
    assert "object" in wide["list"] and "object" not in narrow["list"]


def _show_fix_and_replay(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    listed = env.cli("failures", "list", "--json").json()
    renamed = next(f for f in listed if f["record_key"] == env.data.partners[1]["id"])
    created = next(f for f in listed if f["record_key"] == env.data.partners[0]["id"])

    shown = env.cli("failures", "show", str(renamed["id"]))
    salesforce_id = next(r["Id"] for r in env.apps["salesforce"].all_records("Account")
                         if r.get("PRM_Id__c") == env.data.partners[1]["id"])
    assert f"/lightning/r/Account/{salesforce_id}/view" in shown.stdout
    assert "Name: 'Rejected Renamed GmbH' is refused by a validation rule" in _flat(shown.stdout)
    assert f"prm-sync failures fix {renamed['id']} --set name=VALUE" in shown.stdout

    # a dry-run replay of a record nobody fixed: the same payload, so it says it will fail again
    preview = env.cli("failures", "replay", str(renamed["id"]), "--dry-run", "--json")
    assert preview.exit_code == 0 and preview.json()["unchanged_payloads"] == [renamed["id"]]
    assert "the payload is the same as the one that failed" in _flat(
        env.cli("failures", "replay", str(renamed["id"]), "--dry-run").stdout)

    # fix: a preview first (nothing saved), then the change and its replay in one step
    dry = env.cli("failures", "fix", str(created["id"]), "--set", "name=Alpine Partners Zero", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert dry.json()["payload_changes"]["Name"] == ["Alpine Partners 0", "Alpine Partners Zero"]
    with env.runtime.store.session(readonly=True) as session:
        assert records.get_record(session, "partner", created["record_key"]).name == "Alpine Partners 0"
    wrong = env.cli("failures", "fix", str(created["id"]), "--set", "Name=Alpine Partners Zero")
    assert wrong.exit_code == 2 and "--set name=" in wrong.stderr  # the Salesforce field named: say the PRM one
    fixed = env.cli("failures", "fix", str(created["id"]), "--set", "name=Alpine Partners Zero")
    assert fixed.exit_code == 0, fixed.output
    assert "synced" in fixed.stdout
    accounts = {r.get("PRM_Id__c"): r for r in env.apps["salesforce"].all_records("Account")}
    assert accounts[created["record_key"]]["Name"] == "Alpine Partners Zero"  # read back from Salesforce
    audit = env.cli("audit", created["record_key"]).stdout
    assert "failure.fix" in audit

    # its dependents now find their parent; the renamed one still fails: 5, and the UI-free summary says so
    rest = env.cli("failures", "replay", "--all", "--json")
    outcomes = {i["record"]: i["outcome"] for i in rest.json()["items"]}
    assert outcomes[renamed["record_key"]] == "failed_again"
    assert {o for r, o in outcomes.items() if r != renamed["record_key"]} == {"synced"}
    assert rest.exit_code == 5


def test_hubspot_refusals_read_as_one_line_not_json_at_80_and_120_columns(make_sync_env, monkeypatch: pytest.MonkeyPatch) -> None:
    """HubSpot nests its reasons as JSON in ``Property values were not valid: [...]``, behind the connector's call name.

    The list shows the field, the value and the other properties refused, in
    two lines a record (HubSpot's raw JSON was cut mid-sentence over seven).
    """
    env = make_sync_env(systems=("hubspot",))
    partner = env.data.partners[0]
    env.apps["hubspot"].faults = FaultConfig(invalid_values={"name": [partner["name"]], "partner_tier": [partner["tier"]]})
    assert env.cli("sync").exit_code == 5
    [failure] = [f for f in env.cli("failures", "list", "--json").json() if f["record_key"] == partner["id"]]
    assert failure["error_message"].startswith("batch upsert: Property values were not valid: [{")  # as HubSpot said it
    problem = f"name: '{partner['name']}' is not a valid value (also refused: partner_tier)"
    assert failure["problem"] == problem
    for width in WIDTHS:
        monkeypatch.setenv("COLUMNS", str(width))
        for args in (["failures"], ["failures", "show", str(failure["id"])]):
            shown = env.cli(*args).stdout
            assert problem in _flat(shown), shown
            if args == ["failures"]:  # show also prints the remote's own message, whole
                _fits(shown, width)
                assert "isValid" not in shown, shown
            assert "HubSpot refused the value for this property" in _flat(shown)  # what fixes it
        listed = env.cli("failures", "list").stdout
        _fits(listed, width)
        assert "isValid" not in listed
        lines = listed.splitlines()
        header = next(line for line in lines if line.startswith("error code"))
        left, right = header.index("message"), header.index(" id") - 3
        row = next(i for i, line in enumerate(lines) if line.startswith("INVALID_VALUE"))
        assert " ".join(" ".join(line[left:right].split()) for line in lines[row:row + 2]) == problem, listed
        assert not lines[row + 2].startswith(" "), listed  # the record takes two lines, the next is the footer
