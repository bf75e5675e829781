"""prm-sync installed anywhere: the wheel, the config search order, ``init`` and state files with absolute paths."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from fixtures.cli import invoke

from connectors.sandbox.cluster import SandboxCluster
from prm_sync import defaults
from prm_sync.config import load_config, point_at_sandboxes

REPO = Path(__file__).resolve().parents[2]
_LEFTOVERS = shutil.ignore_patterns("*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache")
_ROOT_ONLY = {".git", ".venv", ".data", ".dagster_home", "tests", "benchmarks", "build", "dist", "tmp"}


def _not_shipped(folder: str, names: list[str]) -> set[str]:
    """This checkout's leftovers, and the repository root's folders a wheel does not need."""
    skipped = set(_LEFTOVERS(folder, names))
    return skipped | (_ROOT_ONLY & set(names)) if Path(folder) == REPO else skipped


@pytest.fixture
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for name in ("PRM_SYNC_CONFIG", "PRM_SYNC_SANDBOX_STATE", "PRM_SYNC_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return folder


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def test_the_wheel_installs_into_a_fresh_venv_and_runs_from_an_empty_directory(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=_not_shipped)  # what a clone holds, without this checkout's leftovers
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRM_SYNC_", "PYTHON", "VIRTUAL_ENV"))}
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
          "-w", str(tmp_path / "dist"), str(source)], tmp_path, env)
    (wheel,) = (tmp_path / "dist").glob("prm_sync-*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.startswith("prm_sync/_defaults/")}
    assert {f"prm_sync/_defaults/{p.relative_to(REPO).as_posix()}" for p in [
        *(REPO / "config").rglob("*.yaml"), *(REPO / "mappings").rglob("*.yaml"), REPO / "mappings" / "mapping.schema.json",
    ]} == shipped  # what `prm-sync init` copies and the CLI finds: exactly the repository's files
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     tmp_path, env).stdout.strip())
    # the dependencies come from this project's venv (a plain path: its editable-install hook is not run)
    (site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
         tmp_path, env)
    cli = str(venv / "bin" / "prm-sync")
    empty = tmp_path / "empty"
    empty.mkdir()

    validated = json.loads(_run([cli, "validate", "--json"], empty, env).stdout)
    assert validated["ok"] and Path(validated["config"]).is_relative_to(site / "prm_sync" / "_defaults")
    assert len(validated["mapping_files"]) == 4
    _run([cli, "mappings", "schema"], empty, env)
    assert json.loads((empty / "mapping.schema.json").read_text())["title"] == "prm-sync mapping file"
    demo = json.loads(_run([cli, "demo", "--scale", "0.02", "--json"], empty, env).stdout)
    assert [run["status"] for run in demo["runs"]] == ["succeeded"] * 3  # first, after a day of business, after AP paid
    assert Path(demo["data_dir"]) == empty / ".data" / "demo"  # beside the user, not in site-packages
    assert not (site / "prm_sync" / "_defaults" / ".data").exists()


def test_validate_from_an_empty_directory_uses_the_shipped_configuration(empty_dir: Path) -> None:
    result = invoke(["validate", "--json"])
    assert result.exit_code == 0, result.output
    assert result.json()["config"] == str(defaults.config_file())


def test_config_search_order_flag_then_env_then_working_directory_then_shipped(
    empty_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = empty_dir / "config" / "prm_sync.yaml"
    local.parent.mkdir()
    shutil.copy(defaults.config_file(), local)
    shutil.copytree(defaults.mappings_dir(), empty_dir / "mappings")
    from_env = empty_dir / "config" / "env.yaml"
    shutil.copy(defaults.config_file(), from_env)
    flag = empty_dir / "config" / "flag.yaml"
    shutil.copy(defaults.config_file(), flag)

    def used(*args: str) -> str:
        result = invoke([*args, "validate", "--json"])
        return str(Path(result.json().get("config", result.output)).resolve()) if result.exit_code == 0 else ""

    assert used() == str(local)
    monkeypatch.setenv("PRM_SYNC_CONFIG", str(from_env))
    assert used() == str(from_env)
    assert used("--config", str(flag)) == str(flag)


def test_mappings_schema_is_written_beside_the_configured_mappings(empty_dir: Path) -> None:
    assert invoke(["init", "."]).exit_code == 0
    (empty_dir / "mappings" / "mapping.schema.json").unlink()
    result = invoke(["mappings", "schema"])
    assert result.exit_code == 0, result.output
    assert (empty_dir / "mappings" / "mapping.schema.json").exists()


def test_init_writes_an_editable_deployment_and_never_overwrites(empty_dir: Path) -> None:
    first = invoke(["init", "acme", "--json"])
    assert first.exit_code == 0, first.output
    written = {Path(p).relative_to(empty_dir / "acme").as_posix() for p in first.json()["written"]}
    assert {"config/prm_sync.yaml", "mappings/salesforce.yaml", "mappings/mapping.schema.json",
            "mappings/tests/hubspot.yaml", ".gitignore"} <= written
    assert "SALESFORCE_CONSUMER_KEY" in first.json()["secret_envs"]["salesforce"]
    config = load_config(empty_dir / "acme" / "config" / "prm_sync.yaml")
    assert config.mappings == [empty_dir / "acme" / "mappings"] and config.data_dir == empty_dir / "acme" / ".data"

    edited = empty_dir / "acme" / "mappings" / "hubspot.yaml"
    edited.write_text(edited.read_text() + "# ours\n")
    again = invoke(["init", "acme"])
    assert again.exit_code == 2 and "never overwrites" in again.stderr and "Traceback" not in again.output
    assert edited.read_text().endswith("# ours\n")
    human = invoke(["init", "beta"])
    assert human.exit_code == 0 and "next" in human.stdout and "prm-sync validate" in human.stdout


def test_state_files_hold_absolute_paths_that_work_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with SandboxCluster(Path("relative/sandbox"), systems=("salesforce", "lms")) as cluster:
        cluster.write_state(Path("relative/sandbox.json"))
        state = json.loads(Path("relative/sandbox.json").read_text())["systems"]
        other = tmp_path / "other"
        other.mkdir()
        monkeypatch.chdir(other)
        config, secrets = point_at_sandboxes(load_config(defaults.demo_config_file()),
                                             tmp_path / "relative" / "sandbox.json")
    salesforce = state["salesforce"]
    for path in (salesforce["ca_bundle"], salesforce["oauth"]["private_key_file"],
                 salesforce["oauth"]["certificate_file"]):
        assert Path(path).is_absolute() and Path(path).is_file()
    assert config.systems.salesforce.ca_bundle == Path(salesforce["ca_bundle"])
    assert secrets["PRM_SYNC_DEMO_LMS_KEY"] == state["lms"]["key"]  # the LRS's Basic credentials
    assert secrets["PRM_SYNC_DEMO_LMS_SECRET"] == state["lms"]["secret"]
