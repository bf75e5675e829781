"""Hostile input through the real ``prm-sync`` entry point: one clear line, exit 2, never a traceback.

Each row is an input that once ended in "internal error", exhausted the
machine, or was accepted without a word (issue #21). The table runs the
console script in-process (same error boundary as the installed command);
only the rows that need a process of their own (a port taken by another
socket) bind anything, and they close it themselves.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fixtures.cli import invoke

from prm_sync.store import failures
from prm_sync.store.db import SQLITE_FILENAME, Store, make_engine

REPO = Path(__file__).resolve().parents[2]
HEADER = "id,company_name,domain,email,street,city,country,phone,product\n"


@dataclass(frozen=True)
class Case:
    """``build`` prepares files under the project folder and returns the CLI arguments."""

    build: Callable[[Path], list[str]]
    expect: str  # a fragment the one error line must contain
    lines: int = 1  # error lines allowed (capped listings say how many they left out)


def _config(project: Path) -> Path:
    return project / "config" / "prm_sync.yaml"


def _edit_config(project: Path, old: str, new: str) -> None:
    path = _config(project)
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def _write(project: Path, name: str, content: str | bytes) -> Path:
    path = project / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _laughs(depth: int = 9) -> str:
    lines = ["version: 1", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


def billion_laughs_config(project: Path) -> list[str]:
    _config(project).write_text(_laughs())
    return ["validate"]


def billion_laughs_mapping(project: Path) -> list[str]:
    path = project / "mappings" / "hubspot.yaml"
    path.write_text(_laughs() + path.read_text().replace("version: 1\n", "", 1))
    return ["validate"]


def deep_nesting(project: Path) -> list[str]:
    _config(project).write_text("version: 1\nsync: " + "[" * 5000 + "]" * 5000 + "\n")
    return ["validate"]


def deep_block_nesting(project: Path) -> list[str]:
    body = "".join(f"{' ' * i}k{i}:\n" for i in range(1500))  # 5,000 levels of indentation pass the size bound
    _config(project).write_text("version: 1\nsync:\n" + "\n".join("  " + line for line in body.splitlines()) + "\n")
    return ["validate"]


def huge_integer(project: Path) -> list[str]:
    _edit_config(project, "overlap_seconds: 300", "overlap_seconds: " + "9" * 5000)
    return ["validate"]


def huge_file(project: Path) -> list[str]:
    _config(project).write_text("version: 1\n" + "# padding\n" * 1_200_000)
    return ["validate"]


def config_dev_zero(project: Path) -> list[str]:
    return ["--config", "/dev/zero", "validate"]


def state_dev_zero(project: Path) -> list[str]:
    return ["--sandbox-state", "/dev/zero", "validate"]


def _state(project: Path, content: str | bytes) -> list[str]:
    _write(project, "sandbox.json", content)
    return ["--sandbox-state", str(project / "sandbox.json"), "validate"]


def state_missing_keys(project: Path) -> list[str]:
    return _state(project, '{"systems": {"salesforce": {}, "hubspot": {"base_url": "http://127.0.0.1:1"}}}')


def state_is_a_list(project: Path) -> list[str]:
    return _state(project, '[1, 2, 3]')


def state_systems_is_a_list(project: Path) -> list[str]:
    return _state(project, '{"systems": ["salesforce"]}')


def state_binary(project: Path) -> list[str]:
    return _state(project, bytes(range(256)) * 4)


def database_not_sqlite(project: Path) -> list[str]:
    data = project / ".data"
    data.mkdir(exist_ok=True)
    _write(project, f".data/{SQLITE_FILENAME}", b"this is not a database at all\n" * 200)
    return ["db", "current"]


def _csv_check(project: Path, content: str | bytes, *extra: str) -> list[str]:
    path = _write(project, "regs.csv", content)
    return ["conflicts", "check", "--registrations", str(path), *extra]


def csv_latin1(project: Path) -> list[str]:
    return _csv_check(project, (HEADER + "r1,Müller GmbH,mueller.de,,,,DE,,security\n").encode("latin-1"))


def csv_utf16_without_bom(project: Path) -> list[str]:
    return _csv_check(project, (HEADER + "r1,Acme,acme.com,,,,US,,security\n").encode("utf-16-le"))


def csv_huge_cell(project: Path) -> list[str]:
    return _csv_check(project, HEADER + "r1," + "A" * (128 * 1024 + 10) + ",acme.com,,,,US,,security\n")


def csv_unterminated_quote(project: Path) -> list[str]:
    return _csv_check(project, HEADER + 'r1,"Acme,acme.com,,,,US,,security\nr2,Beta,beta.com,,,,US,,security\n')


def csv_short_row(project: Path) -> list[str]:
    return _csv_check(project, HEADER + "r1,Acme,acme.com,,,,US,,security\nr2,Beta\n")


def csv_long_row(project: Path) -> list[str]:
    return _csv_check(project, HEADER + "r1,Acme,acme.com,,,,US,,security,extra\n")


def csv_declared_wrong_encoding(project: Path) -> list[str]:
    content = (HEADER + "r1,Acme,acme.com,,,,US,,security\n").encode("utf-16")
    return _csv_check(project, content, "--encoding", "utf-8")


def csv_unknown_encoding(project: Path) -> list[str]:
    return _csv_check(project, HEADER, "--encoding", "klingon-8")


def csv_many_bad_rows(project: Path) -> list[str]:
    return _csv_check(project, HEADER + "r,Short\n" * 100_000)


def import_latin1(project: Path) -> list[str]:
    path = _write(project, "partners.csv", "id,name,country\nptn_1,Müller GmbH,DE\n".encode("latin-1"))
    return ["import", "--partners", str(path), "--dry-run"]


def csv_dev_zero(project: Path) -> list[str]:
    return ["conflicts", "check", "--registrations", "/dev/zero"]


def import_dev_zero(project: Path) -> list[str]:
    return ["import", "--partners", "/dev/zero", "--dry-run"]


def csv_sparse_300mb(project: Path) -> list[str]:
    path = _write(project, "regs.csv", HEADER)
    os.truncate(path, 300 * 1024 * 1024)  # sparse: refused by its size, never read
    return ["conflicts", "check", "--registrations", str(path)]


PARTNERS_CSV = "id,name,country\nptn_1,Acme Partners,US\n"


def import_amount_past_the_store(project: Path) -> list[str]:
    partners = _write(project, "partners.csv", PARTNERS_CSV)
    regs = _write(project, "regs.csv", "partner_id,customer_name,amount\nptn_1,Fine Co,100\nptn_1,Huge Co,1e30\n")
    return ["import", "--partners", str(partners), "--registrations", str(regs)]


def fix_amount_past_the_store(project: Path) -> list[str]:
    """A failed registration in the store, fixed by hand with an amount no column holds."""
    partners = _write(project, "partners.csv", PARTNERS_CSV)
    regs = _write(project, "regs.csv", "id,partner_id,customer_name,amount\nreg_1,ptn_1,Fine Co,100\n")
    assert invoke(["db", "upgrade"]).exit_code == 0
    assert invoke(["import", "--partners", str(partners), "--registrations", str(regs)]).exit_code == 0
    store = Store(make_engine(f"sqlite:///{project / '.data' / SQLITE_FILENAME}"))
    try:
        with store.session() as session:
            failure = failures.record_failure(
                session, system="salesforce", remote_object="Deal_Registration__c", entity="deal_registration",
                record_key="reg_1", operation="upsert", error_code="FIELD_INVALID", error_message="refused")
    finally:
        store.close()
    return ["failures", "fix", str(failure.id), "--set", "amount=1e30"]


NOT_UTF8 = b"\xff\xfeacme".decode("utf-8", "surrogateescape")  # how Python hands over argv bytes that are not UTF-8


def audit_id_not_utf8(project: Path) -> list[str]:
    assert invoke(["db", "upgrade"]).exit_code == 0
    return ["audit", NOT_UTF8]


def failures_object_not_utf8(project: Path) -> list[str]:
    assert invoke(["db", "upgrade"]).exit_code == 0
    return ["failures", "list", "--object", NOT_UTF8]


def init_into_a_file(project: Path) -> list[str]:
    return ["init", str(_write(project, "notes.txt", "not a folder\n"))]


def init_into_a_system_folder(project: Path) -> list[str]:
    return ["init", "/proc/prm-sync"]


def reports_out_as_table(project: Path) -> list[str]:
    return ["reports", "--out", str(project / "report.csv")]


def cron_out_of_range(project: Path) -> list[str]:
    _edit_config(project, 'full_sync_cron: "0 2 * * *"', 'full_sync_cron: "99 99 * * *"')
    return ["status"]


def unknown_time_zone(project: Path) -> list[str]:
    _edit_config(project, "timezone: UTC", "timezone: Mars/Olympus")
    return ["status"]


def retention_days_huge(project: Path) -> list[str]:
    _edit_config(project, "ledger_days: 30", "ledger_days: 99999999999")
    return ["db", "prune"]


def base_url_port_out_of_range(project: Path) -> list[str]:
    _edit_config(project, "base_url: https://api.hubapi.com", "base_url: https://api.hubapi.com:99999")
    return ["validate"]


def limit_huge(project: Path) -> list[str]:
    return ["failures", "list", "--limit", "9" * 30]


def failure_id_huge(project: Path) -> list[str]:
    return ["failures", "show", "9" * 30]


def since_huge(project: Path) -> list[str]:
    return ["failures", "list", "--since", "99999999999d"]


def out_dev_full(project: Path) -> list[str]:
    return ["mappings", "schema", "--out", "/dev/full"]


def schema_out_directory(project: Path) -> list[str]:
    (project / "adir").mkdir()
    return ["mappings", "schema", "--out", str(project / "adir")]


def data_dir_is_a_file(project: Path) -> list[str]:
    _edit_config(project, "data_dir: ../.data", "data_dir: /etc/passwd")
    return ["validate"]


def data_dir_system_path(project: Path) -> list[str]:
    _edit_config(project, "data_dir: ../.data", "data_dir: /proc")
    return ["db", "current"]


_ESCAPE = "\"IsPartner = true) OR (Name != ''\""


def soql_filter_escape(project: Path) -> list[str]:
    path = project / "mappings" / "salesforce.yaml"
    path.write_text(path.read_text().replace('filter: "IsPartner = true"', f"filter: {_ESCAPE}", 1))
    return ["validate"]


def soql_filter_escape_sync(project: Path) -> list[str]:
    soql_filter_escape(project)
    return ["sync", "--system", "salesforce", "--dry-run"]


def soql_filter_unbalanced_quote(project: Path) -> list[str]:
    path = project / "mappings" / "salesforce.yaml"
    path.write_text(path.read_text().replace('filter: "IsPartner = true"', "filter: \"Name = 'Acme\"", 1))
    return ["validate"]


def soql_filter_second_statement(project: Path) -> list[str]:
    path = project / "mappings" / "salesforce.yaml"
    text = path.read_text().replace('filter: "IsPartner = true"', 'filter: "IsPartner = true ORDER BY Name LIMIT 1"', 1)
    path.write_text(text)
    return ["validate"]


def hubspot_filter_bad_operator(project: Path) -> list[str]:
    path = project / "mappings" / "hubspot.yaml"
    old = '{propertyName: is_partner, operator: EQ, value: "true"}'
    path.write_text(path.read_text().replace(old, '{propertyName: is_partner, operator: "EQ OR 1", value: "true"}', 1))
    return ["validate"]


def hubspot_filter_nested_value(project: Path) -> list[str]:
    path = project / "mappings" / "hubspot.yaml"
    old = '{propertyName: is_partner, operator: EQ, value: "true"}'
    path.write_text(path.read_text().replace(old, "{propertyName: is_partner, operator: EQ, value: {or: [1]}}", 1))
    return ["validate"]


def erp_domain_bad_operator(project: Path) -> list[str]:
    path = project / "mappings" / "erp.yaml"
    old = '[[state, "=", posted], [partner_type, "=", customer]]'
    path.write_text(path.read_text().replace(old, '["|", [state, "=", posted]]', 1))
    return ["validate"]


def sync_empty_selection(project: Path) -> list[str]:
    return ["sync", "--system", "lms", "--entity", "partner"]


def plan_unknown_system(project: Path) -> list[str]:
    return ["mappings", "plan", "--system", "nosuch", "--offline"]


def plan_unknown_record(project: Path) -> list[str]:
    return ["mappings", "plan", "--offline", "--record", "ptn_nope"]


def sync_unknown_entity(project: Path) -> list[str]:
    return ["sync", "--entity", "nosuch"]


def org_id_bad_checksum(project: Path) -> list[str]:
    _edit_config(project, "organization_ids: []", "organization_ids: [00D000000000001AAB]")
    return ["validate"]


def http_base_url_remote(project: Path) -> list[str]:
    _edit_config(project, "base_url: https://api.hubapi.com", "base_url: http://api.hubapi.com")
    return ["validate"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


CASES: dict[str, Case] = {
    "yaml-billion-laughs-in-config": Case(billion_laughs_config, "alias"),
    "yaml-billion-laughs-in-mapping": Case(billion_laughs_mapping, "alias"),
    "yaml-5000-deep-flow-nesting": Case(deep_nesting, "nest"),
    "yaml-1500-deep-block-nesting": Case(deep_block_nesting, "nest"),
    "yaml-5000-digit-integer": Case(huge_integer, "digits"),
    "yaml-file-too-large": Case(huge_file, "larger than"),
    "config-dev-zero": Case(config_dev_zero, "a device"),
    "sandbox-state-dev-zero": Case(state_dev_zero, "a device"),
    "sandbox-state-missing-keys": Case(state_missing_keys, "sandbox state"),
    "sandbox-state-is-a-list": Case(state_is_a_list, "sandbox state"),
    "sandbox-state-systems-is-a-list": Case(state_systems_is_a_list, "sandbox state"),
    "sandbox-state-binary": Case(state_binary, "sandbox state"),
    "database-not-sqlite": Case(database_not_sqlite, "file is not a database"),
    "csv-latin-1": Case(csv_latin1, "--encoding"),
    "csv-utf-16-without-bom": Case(csv_utf16_without_bom, "--encoding utf-16-le"),
    "csv-128kb-cell": Case(csv_huge_cell, "longer than"),
    "csv-unterminated-quote": Case(csv_unterminated_quote, ":2"),
    "csv-short-row": Case(csv_short_row, ":3"),
    "csv-long-row": Case(csv_long_row, ":2"),
    "csv-declared-encoding-wrong": Case(csv_declared_wrong_encoding, "utf-8"),
    "csv-unknown-encoding": Case(csv_unknown_encoding, "klingon-8"),
    "csv-100000-bad-rows-capped": Case(csv_many_bad_rows, "... and 99,900 more", lines=102),
    "import-latin-1": Case(import_latin1, "UTF-8"),
    "csv-dev-zero": Case(csv_dev_zero, "a device"),
    "import-dev-zero": Case(import_dev_zero, "a device"),
    "csv-300mb-sparse-file": Case(csv_sparse_300mb, "larger than"),
    "import-amount-past-the-store": Case(import_amount_past_the_store, "regs.csv:3: deal_registration.amount"),
    "failures-fix-amount-past-the-store": Case(fix_amount_past_the_store, "cannot be stored"),
    "audit-id-not-utf-8": Case(audit_id_not_utf8, "not UTF-8 text"),
    "failures-object-not-utf-8": Case(failures_object_not_utf8, "not UTF-8 text"),
    "init-into-a-file": Case(init_into_a_file, "not a folder"),
    "init-into-a-system-folder": Case(init_into_a_system_folder, "system folder"),
    "reports-out-without-a-file-format": Case(reports_out_as_table, "--format csv"),
    "config-cron-out-of-range": Case(cron_out_of_range, "bad minute"),
    "config-unknown-time-zone": Case(unknown_time_zone, "Mars/Olympus"),
    "config-retention-days-huge": Case(retention_days_huge, "ledger_days"),
    "config-port-out-of-range": Case(base_url_port_out_of_range, "port"),
    "limit-30-digits": Case(limit_huge, "--limit"),
    "failure-id-30-digits": Case(failure_id_huge, "failure"),
    "since-99999999999d": Case(since_huge, "--since"),
    "out-dev-full": Case(out_dev_full, "/dev/full"),
    "schema-out-a-directory": Case(schema_out_directory, "directory"),
    "data-dir-a-file": Case(data_dir_is_a_file, "/etc/passwd"),
    "data-dir-system-path": Case(data_dir_system_path, "/proc"),
    "soql-filter-escapes-wrapper-validate": Case(soql_filter_escape, "filter"),
    "soql-filter-escapes-wrapper-sync": Case(soql_filter_escape_sync, "filter"),
    "soql-filter-unbalanced-quote": Case(soql_filter_unbalanced_quote, "quote"),
    "soql-filter-order-by": Case(soql_filter_second_statement, "ORDER BY"),
    "hubspot-filter-bad-operator": Case(hubspot_filter_bad_operator, "operator"),
    "hubspot-filter-nested-value": Case(hubspot_filter_nested_value, "value"),
    "erp-domain-or-missing-a-term": Case(erp_domain_bad_operator, "two terms"),
    "sync-selection-matches-nothing": Case(sync_empty_selection, "lms"),
    "sync-unknown-entity": Case(sync_unknown_entity, "nosuch"),
    "plan-unknown-system": Case(plan_unknown_system, "nosuch"),
    "plan-unknown-record": Case(plan_unknown_record, "ptn_nope"),
    "salesforce-org-id-bad-checksum": Case(org_id_bad_checksum, "checksum"),
    "http-base-url-remote-host": Case(http_base_url_remote, "http://"),
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped config and mappings in a folder of their own, data inside it, no sandboxes."""
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "prm_sync.yaml", _config(tmp_path))
    monkeypatch.chdir(tmp_path)
    for name in ("PRM_SYNC_DATABASE_URL", "PRM_SYNC_CONFIG", "PRM_SYNC_SANDBOX_STATE", "PRM_SYNC_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _assert_one_clear_line(result, case: Case) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= case.lines, result.stderr
    assert lines[0].startswith("error:"), result.stderr
    assert case.expect.lower() in result.stderr.lower(), result.stderr


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_clear_line_and_exit_2(name: str, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    _assert_one_clear_line(invoke(case.build(project)), case)


def test_postgres_down_is_one_clear_line(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRM_SYNC_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/prm")
    result = invoke(["db", "current"])
    _assert_one_clear_line(result, Case(lambda _p: [], "cannot open the database"))
    assert "refused" in result.stderr.lower()


@pytest.mark.parametrize(
    ("url", "expect"),
    [
        pytest.param("sqlite:////etc/passwd/prm.sqlite", "cannot create /etc/passwd", id="sqlite-under-a-file"),
        pytest.param("sqlite:////proc/self/nope/prm.sqlite", "cannot create", id="sqlite-under-proc"),
        pytest.param("sqlite:///{project}/adir", "unable to open", id="sqlite-a-directory"),
        pytest.param("garbage", "not a valid", id="not-a-url"),
        pytest.param("mysql://x@127.0.0.1/db", "unsupported database backend", id="unsupported-backend"),
    ],
)
def test_a_bad_database_url_is_one_clear_line(url: str, expect: str, project: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "adir").mkdir()
    monkeypatch.setenv("PRM_SYNC_DATABASE_URL", url.replace("{project}", str(project)))
    _assert_one_clear_line(invoke(["db", "current"]), Case(lambda _p: [], expect))


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["webhooks", "serve", "--port", "{port}"], id="webhooks-serve-port-in-use"),
        pytest.param(["sandbox", "up", "--salesforce-port", "{port}", "--state-file", "s.json"], id="sandbox-up-port-in-use"),
    ],
)
def test_a_port_in_use_is_one_clear_line(command: list[str], taken_port: int, project: Path) -> None:
    args = [part.replace("{port}", str(taken_port)) for part in command]
    _assert_one_clear_line(invoke(args), Case(lambda _p: [], f"port {taken_port}"))


@pytest.mark.parametrize(
    ("option", "path", "expect"),
    [
        pytest.param("--state-file", "/etc/passwd", "system folder", id="sandbox-state-file-etc-passwd"),
        pytest.param("--work-dir", "/usr/lib", "system folder", id="sandbox-work-dir-system"),
        pytest.param("--state-file", ".", "is a folder", id="sandbox-state-file-a-folder"),
    ],
)
def test_sandbox_up_never_writes_system_files(option: str, path: str, expect: str, project: Path) -> None:
    _assert_one_clear_line(invoke(["sandbox", "up", option, path]), Case(lambda _p: [], expect))


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["webhooks", "serve", "--host", "no-such-host.invalid"], id="webhooks-serve-bad-host"),
        pytest.param(["sandbox", "up", "--host", "no-such-host.invalid", "--state-file", "s.json"], id="sandbox-up-bad-host"),
    ],
)
def test_a_bad_host_is_one_clear_line(command: list[str], project: Path) -> None:
    _assert_one_clear_line(invoke(command), Case(lambda _p: [], "no-such-host.invalid"))


@pytest.mark.parametrize(
    ("content", "extra"),
    [
        pytest.param((HEADER + "r1,Müller GmbH,mueller.de,,,,DE,,security\n").encode("latin-1"), ["--encoding", "latin-1"],
                     id="latin-1-declared"),
        pytest.param((HEADER + "r1,Müller GmbH,mueller.de,,,,DE,,security\n").encode("utf-16"), [], id="utf-16-with-bom"),
        pytest.param(b"\xef\xbb\xbf" + (HEADER + "r1,Müller GmbH,mueller.de,,,,DE,,security\n").encode(), [],
                     id="utf-8-with-bom"),
    ],
)
def test_csv_encodings_detected_or_declared_are_read(content: bytes, extra: list[str], project: Path) -> None:
    result = invoke([*_csv_check(project, content, *extra), "--json"])
    assert result.exit_code == 0, result.output
    assert [row["id"] for row in result.json()] == ["r1"]


def test_an_unterminated_quote_stops_the_check_at_its_row(project: Path) -> None:
    rows = "".join(f"r{i},Company {i},c{i}.com,,,,US,,security\n" for i in range(1, 4))
    result = invoke(_csv_check(project, HEADER + rows + 'r4,"Open quote,x.com,,,,US,,security\nr5,Five,five.com,,,,US,,security\n'))
    assert result.exit_code == 2 and "regs.csv:5" in result.stderr and "unterminated quote" in result.stderr


def _number_parameters() -> list[Any]:
    """Every int or float option and argument of every command: (command path, parameter), one param each."""
    import typer

    from prm_sync.cli.app import _register, app

    _register()
    found: list[Any] = []

    def walk(command: Any, path: list[str]) -> None:
        for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
            walk(sub, [*path, name])
        for param in [] if getattr(command, "commands", None) else command.params:
            if param.type_descriptor.annotation in (int, float, list[int], list[float]):  # ids to replay are a list
                found.append(pytest.param(path, param, id=" ".join([*path, param.opts[0]])))

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.parametrize(("path", "param"), _number_parameters())
def test_every_number_on_the_command_line_is_bounded(path: list[str], param: Any, project: Path) -> None:
    """A 30-digit number anywhere (``--limit``, an id, a seed, a port) is one usage line, never a database overflow."""
    assert param.max is not None, f"{' '.join(path)} {param.opts[0]} has no upper bound"
    value = "9" * 30
    args = [*path, value] if param.param_type_name == "argument" else [*path, param.opts[0], value]
    _assert_one_clear_line(invoke(args), Case(lambda _p: [], "invalid value for"))


def _config_numbers() -> list[Any]:
    """Every int or float setting of the config file (dict values and optional ones too), by its path."""
    import types
    import typing

    from pydantic import BaseModel

    from prm_sync.config.settings import AppConfig

    found: list[Any] = []

    def walk(model: type[BaseModel], path: str) -> None:
        hints = typing.get_type_hints(model, include_extras=True)
        for name, info in model.model_fields.items():
            hint = hints[name]
            kinds = list(typing.get_args(hint)) if isinstance(hint, types.UnionType) else [hint]  # int | None
            for kind in kinds:
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    walk(kind, f"{path}{name}.")
                elif kind in (int, float):
                    found.append(pytest.param(info.metadata, id=f"{path}{name}"))
                elif typing.get_origin(kind) is dict:  # per_tier: {gold: 120}
                    value = typing.get_args(kind)[1]
                    if typing.get_origin(value) is typing.Annotated and typing.get_args(value)[0] in (int, float):
                        extras = typing.get_args(value)[1:]  # Field(...) in Annotated: its constraints
                        found.append(pytest.param([m for e in extras for m in getattr(e, "metadata", [e])],
                                                  id=f"{path}{name}.*"))
                    elif isinstance(value, type) and issubclass(value, BaseModel):
                        walk(value, f"{path}{name}.*.")
                    elif value in (int, float):
                        found.append(pytest.param([], id=f"{path}{name}.*"))

    walk(AppConfig, "")
    return found


@pytest.mark.parametrize("metadata", _config_numbers())
def test_every_number_in_the_config_file_is_bounded(metadata: list[Any]) -> None:
    """A 30-digit retention, timeout or threshold is refused by validate, never met later by date arithmetic."""
    import annotated_types

    assert any(isinstance(m, annotated_types.Le | annotated_types.Lt) for m in metadata), metadata
