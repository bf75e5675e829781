"""``prm-sync init``: an editable configuration and mappings for a new deployment.

Like ``dbt init``: copies the shipped ``config/prm_sync.yaml`` and
``mappings/`` (with their YAML tests and JSON Schema) into a folder, never
overwrites a file that is already there, and says what to do next. The
copies keep their relative paths (``data_dir: ../.data``, ``mappings:
[../mappings]``), so ``prm-sync`` run from that folder finds them through
``./config/prm_sync.yaml``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from prm_sync import defaults
from prm_sync.errors import ConfigError, Problem

GITIGNORE = "# the data folder holds the SQLite store, exports and run state\n.data/\n"


@dataclass
class InitResult:
    directory: Path
    written: list[Path] = field(default_factory=list)
    secret_envs: dict[str, list[str]] = field(default_factory=dict)

    def next_steps(self) -> list[str]:
        envs = " ".join(f"{name}=..." for names in self.secret_envs.values() for name in names)
        return [
            f"cd {self.directory}",
            "edit config/prm_sync.yaml: your Salesforce sign-in (systems.salesforce.auth), HubSpot, LMS and "
            "ERP URLs; disable a system you do not use with `enabled: false`",
            f"export the credentials it names: {envs}" if envs else "export the credentials it names",
            "prm-sync validate, then prm-sync validate --remote (checks every mapped field in each system)",
            "prm-sync sync --dry-run, then prm-sync sync",
            "README, 'Connecting a real org': the connected app, its certificate and the integration user",
        ]


def _planned(directory: Path) -> list[tuple[Path, Path | None]]:
    """(target, source) for every file init writes; a None source is the .gitignore."""
    pairs: list[tuple[Path, Path | None]] = [(directory / "config" / "prm_sync.yaml", defaults.config_file())]
    source_mappings = defaults.mappings_dir()
    for source in sorted(source_mappings.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            pairs.append((directory / "mappings" / source.relative_to(source_mappings), source))
    pairs.append((directory / ".gitignore", None))
    return pairs


def init_project(directory: Path) -> InitResult:
    """Write the files, or refuse (writing nothing) when any of them exists."""
    from prm_sync.config import load_config
    from prm_sync.config.loader import system_path_problem

    directory = directory.resolve()
    problem = system_path_problem(directory, "folder")
    if problem is None and directory.exists() and not directory.is_dir():
        problem = f"{directory} is a file, not a folder"
    if problem is not None:
        raise ConfigError([Problem(problem, hint="choose a folder of your own: prm-sync init NEW_DIR")])
    planned = _planned(directory)
    planned = [(t, src) for t, src in planned if src is not None or not t.exists()]  # keep a .gitignore
    existing = [target for target, _ in planned if target.exists()]
    if existing:
        shown = ", ".join(str(p.relative_to(directory)) for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise ConfigError([Problem(
            f"{directory} already has {shown}{more}; prm-sync init never overwrites",
            hint="choose an empty folder: prm-sync init NEW_DIR",
        )])
    result = InitResult(directory=directory)
    for target, source in planned:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if source is None:
                target.write_text(GITIGNORE)
            else:
                shutil.copyfile(source, target)
        except OSError as exc:  # no permission, a full disk: say which file, and what was written before it
            written = f" (written before it: {len(result.written)} files)" if result.written else ""
            raise ConfigError([Problem(f"cannot write {target}: {exc.strerror or exc}{written}")]) from None
        result.written.append(target)
    result.secret_envs = load_config(directory / "config" / "prm_sync.yaml").systems.secret_envs()
    return result
