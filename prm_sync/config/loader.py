"""Load ``config/prm_sync.yaml``, point it at sandboxes when asked, resolve secrets.

Relative paths in the file (data directory, mappings, CA bundles) are read
relative to the file's own directory, so the same config works from any
working directory (the CLI, ``dagster dev``, CI).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from prm_sync.config.settings import AppConfig
from prm_sync.errors import ConfigError, MissingSecretError, Problem
from prm_sync.yaml_source import load_yaml, validate_document

CONFIG_ENV = "PRM_SYNC_CONFIG"
SANDBOX_STATE_ENV = "PRM_SYNC_SANDBOX_STATE"
DEFAULT_CONFIG = Path("config/prm_sync.yaml")


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG))


def load_config(path: Path | None = None, *, sandbox_state: Path | None = None) -> AppConfig:
    """Validate the whole file and raise one ConfigError naming every problem."""
    path = path or default_config_path()
    if not path.exists():
        raise ConfigError(
            [Problem(f"configuration file {path} not found", hint=f"pass --config PATH or set {CONFIG_ENV}")]
        )
    document = load_yaml(path)
    config, problems = validate_document(AppConfig, document)
    if problems or config is None:
        raise ConfigError(problems or [Problem("configuration is empty", file=str(path))])
    assert isinstance(config, AppConfig)
    config = _resolve_paths(config, path.parent.resolve())
    state = sandbox_state or _env_path(SANDBOX_STATE_ENV)
    if state is not None:
        config = apply_sandbox_state(config, state)
    return config


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _resolve_paths(config: AppConfig, base: Path) -> AppConfig:
    def resolve(p: Path | None) -> Path | None:
        if p is None:
            return None
        return p if p.is_absolute() else (base / p).resolve()

    update: dict[str, Any] = {
        "data_dir": resolve(config.data_dir),
        "mappings": [resolve(p) for p in config.mappings],
    }
    systems = config.systems.model_copy()
    for name in ("salesforce", "hubspot", "lms", "erp"):
        system = getattr(systems, name)
        if system is not None and system.ca_bundle is not None:
            setattr(systems, name, system.model_copy(update={"ca_bundle": resolve(system.ca_bundle)}))
    update["systems"] = systems
    return config.model_copy(update=update)


def read_sandbox_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(
            [
                Problem(
                    f"sandbox state file {path} not found",
                    hint="start the sandboxes with `prm-sync sandbox up --state-file PATH`",
                )
            ]
        )
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [Problem(f"sandbox state file is not JSON: {exc.msg}", file=str(path), line=exc.lineno)]
        ) from None
    if not isinstance(state, dict) or "systems" not in state:
        raise ConfigError([Problem("sandbox state file has no 'systems' section", file=str(path))])
    return state


def apply_sandbox_state(config: AppConfig, path: Path) -> AppConfig:
    """Point every system at the sandboxes described in a state file.

    The sandboxes' tokens are throwaway values written by ``prm-sync sandbox
    up``; they are exported into the environment variables the config names,
    so the connectors still read their secrets from the environment.
    """
    state = read_sandbox_state(path)
    systems = config.systems.model_copy()
    for name, info in state["systems"].items():
        current = getattr(systems, name, None)
        if current is None:
            continue
        update: dict[str, Any] = {}
        url_key = "instance_url" if name == "salesforce" else "base_url"
        update[url_key] = info[url_key]
        if info.get("ca_bundle"):
            update["ca_bundle"] = Path(info["ca_bundle"])
        os.environ[current.access_token_env] = info["access_token"]
        setattr(systems, name, current.model_copy(update=update))
    return config.model_copy(update={"systems": systems})


def resolve_secret(env_var: str, purpose: str) -> SecretStr:
    value = os.environ.get(env_var)
    if not value:
        raise MissingSecretError(env_var, purpose)
    return SecretStr(value)
