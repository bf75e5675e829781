"""CSV conflict check for the CLI: decisions per row, and ConfigError with file:line on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from prm_sync.config.settings import ConflictRules
from prm_sync.errors import ConfigError
from prm_sync.rules.csvcheck import check_csv

HEADER = "id,company_name,domain,email,street,city,country,phone,product\n"


def write(tmp_path: Path, name: str, body: str, header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


def test_rows_against_accounts_and_earlier_rows(tmp_path: Path) -> None:
    regs = write(tmp_path, "regs.csv", "r1,Acme Inc,,jane@acme.com,,Austin,US,,platform\n"
                                       "r2,Zenith Foods,,bob@gmail.com,,Paris,FR,,platform\n"
                                       "r3,ZENITH FOODS SAS,,,,Paris,France,,platform\n"
                                       "r4,Zenith Foods,,,,Paris,FR,,security\n")
    accounts = write(tmp_path, "accounts.csv", "a1,ACME Corporation,acme.com,,1 Main St,Austin,US,,\n")
    rows = {r.id: r for r in check_csv(regs, accounts, None, ConflictRules())}
    assert (rows["r1"].decision, rows["r1"].matched_ids) == ("conflict", ["a1"])
    assert rows["r2"].decision == "clear"
    assert (rows["r3"].decision, rows["r3"].matched_ids) == ("conflict", ["r2"])
    assert rows["r4"].decision == "clear"  # no product overlap with r2/r3
    assert rows["r1"].reasons == ["same domain acme.com as existing customer a1 (ACME Corporation)"]


@pytest.mark.parametrize(
    ("header", "body", "message"),
    [
        pytest.param("id,company_name\n", "r1,Acme\n", "regs.csv:1: missing column(s) domain", id="missing-columns"),
        pytest.param(HEADER, "r1,,,,,,,,\n", "regs.csv:2: empty company_name", id="empty-name"),
        pytest.param(HEADER, "r1,A,,,,,,,\nr1,B,,,,,,,\n", "regs.csv:3: duplicate id 'r1' (first on line 2)", id="duplicate-id"),
        pytest.param(HEADER, "r1,A,,,,,,,,extra\n", "regs.csv:2: 10 values for 9 columns (more than the header)", id="too-many-fields"),
    ],
)
def test_bad_csv_names_file_and_line(tmp_path: Path, header: str, body: str, message: str) -> None:
    path = write(tmp_path, "regs.csv", body, header=header)
    with pytest.raises(ConfigError) as err:
        check_csv(path, None, None, ConflictRules())
    assert message in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read CSV"):
        check_csv(tmp_path / "nope.csv", None, None, ConflictRules())
