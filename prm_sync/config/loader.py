"""Find and load ``prm_sync.yaml``, point it at sandboxes when asked, resolve secrets.

Which file: ``--config PATH``, else ``$PRM_SYNC_CONFIG``, else
``config/prm_sync.yaml`` in the working directory when there is one (a
checkout, or a folder made by ``prm-sync init``), else the packaged default
(a template for real systems, enough for ``validate`` and ``demo`` anywhere).

Relative paths in the file (data directory, mappings, CA bundles, key files)
are read relative to the file's own directory, so the same config works from
any working directory (the CLI, ``dagster dev``, CI). The one exception is
the ``data_dir`` of a config inside an installed wheel: it is read as if the
shipped ``config/`` folder sat in the working directory (``../.data`` is
``./.data``), because site-packages is no place to write data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from prm_sync import defaults
from prm_sync.config.settings import AppConfig, SalesforceConfig
from prm_sync.errors import ConfigError, MissingSecretError, Problem
from prm_sync.files import read_at_most
from prm_sync.yaml_source import load_yaml, validate_document

CONFIG_ENV = "PRM_SYNC_CONFIG"
SANDBOX_STATE_ENV = "PRM_SYNC_SANDBOX_STATE"
WORKING_DIR_CONFIG = Path("config/prm_sync.yaml")
MAX_STATE_BYTES = 1_000_000  # `sandbox up` writes a few kilobytes


def default_config_path() -> Path:
    """The file used when no ``--config`` is given (see the module docstring for the order)."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    if WORKING_DIR_CONFIG.is_file():
        return WORKING_DIR_CONFIG
    return defaults.config_file()


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
    data_base = path.parent.resolve()
    if defaults.is_installed_copy(path):  # as if the shipped layout (config/, mappings/) sat in the working directory
        data_base = Path.cwd() / data_base.relative_to(defaults.PACKAGED)
    config = _resolve_paths(config, path.parent.resolve(), data_base)
    data_dir_problem = _data_dir_problem(config.data_dir)
    if data_dir_problem:
        line, column = document.position(("data_dir",))
        hint = "a folder of its own, e.g. data_dir: ../.data or /var/lib/prm-sync"
        raise ConfigError([Problem(data_dir_problem, file=str(path), line=line, column=column, hint=hint)])
    state = sandbox_state or _env_path(SANDBOX_STATE_ENV)
    if state is not None:
        config = apply_sandbox_state(config, state)
    return config


# trees that hold the operating system: a store, sandbox files or reports written there would damage it
_SYSTEM_TREES = [Path(p) for p in ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/sbin",
                                   "/sys", "/usr")]


def system_path_problem(path: Path, what: str) -> str | None:
    """Why prm-sync must not create or replace files at ``path`` (the root or a system tree), or None."""
    path = path.expanduser().resolve()
    if path == Path(path.anchor) or any(path == t or t in path.parents for t in _SYSTEM_TREES):
        return f"{what} {path} is in a system folder; prm-sync would write its own files there"
    return None


def _data_dir_problem(data_dir: Path) -> str | None:
    """Why ``data_dir`` cannot hold prm-sync's files, or None (it need not exist yet)."""
    if data_dir.exists() and not data_dir.is_dir():
        return f"data_dir {data_dir} is a file, not a folder"
    return system_path_problem(data_dir, "data_dir")


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _resolve_paths(config: AppConfig, base: Path, data_base: Path) -> AppConfig:
    def resolve(p: Path | None, against: Path = base) -> Path | None:
        if p is None:
            return None
        return p if p.is_absolute() else (against / p).resolve()

    update: dict[str, Any] = {
        "data_dir": resolve(config.data_dir, data_base),
        "mappings": [resolve(p) for p in config.mappings],
    }
    systems = config.systems.model_copy()
    for name in ("salesforce", "hubspot", "lms", "erp"):
        system = getattr(systems, name)
        if system is not None and system.ca_bundle is not None:
            setattr(systems, name, system.model_copy(update={"ca_bundle": resolve(system.ca_bundle)}))
    sf = systems.salesforce
    if sf is not None and sf.auth.private_key_file is not None:
        auth = sf.auth.model_copy(update={"private_key_file": resolve(sf.auth.private_key_file)})
        systems.salesforce = sf.model_copy(update={"auth": auth})
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
    hint = "restart the sandboxes with `prm-sync sandbox up --state-file PATH`, or point at the file it wrote"
    try:
        state = json.loads(read_at_most(path, MAX_STATE_BYTES).decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([Problem("sandbox state file is not UTF-8 text (binary?)", file=str(path), hint=hint)]) from None
    except (OSError, RecursionError) as exc:
        raise ConfigError([Problem(f"cannot read the sandbox state file: {exc}", file=str(path), hint=hint)]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [Problem(f"sandbox state file is not JSON: {exc.msg}", file=str(path), line=exc.lineno, hint=hint)]
        ) from None
    systems = state.get("systems") if isinstance(state, dict) else None
    if not isinstance(systems, dict) or not all(isinstance(v, dict) for v in systems.values()):
        msg = "sandbox state file has no 'systems' section of one object per system"
        raise ConfigError([Problem(msg, file=str(path), hint=hint)])
    return state


def point_at_sandboxes(config: AppConfig, path: Path) -> tuple[AppConfig, dict[str, str]]:
    """The config pointed at the sandboxes in a state file, and the secrets for its env vars.

    Nothing is exported here (``apply_sandbox_state`` does that; tests set
    the variables through their own fixtures). Each system keeps the sign-in
    method its config chose: the state file holds what every method needs
    (the static tokens, the connected app's keys and the path of its private
    key for Salesforce OAuth, the LRS key and secret). Relative paths in an
    older state file are read against the state file's folder.
    """
    state = read_sandbox_state(path)
    base = path.parent.resolve()
    systems = config.systems.model_copy()
    env: dict[str, str] = {}
    for name, info in state["systems"].items():
        current = getattr(systems, name, None)
        if current is None:
            continue
        try:
            setattr(systems, name, _pointed(name, current, info, base, env, path))
        except KeyError as exc:
            msg = f"sandbox state file: systems.{name} has no {exc.args[0]!r}"
            hint = "restart the sandboxes with `prm-sync sandbox up` to write a complete file"
            raise ConfigError([Problem(msg, file=str(path), hint=hint)]) from None
        except (TypeError, AttributeError, ValueError, OSError) as exc:
            msg = f"sandbox state file: systems.{name} is not what `prm-sync sandbox up` writes ({exc})"
            raise ConfigError([Problem(msg, file=str(path))]) from None
    return config.model_copy(update={"systems": systems}), env


def _pointed(name: str, current: Any, info: dict[str, Any], base: Path, env: dict[str, str], path: Path) -> Any:
    """One system's config pointed at its sandbox (``KeyError`` for a key the state file lacks)."""
    update: dict[str, Any] = {}
    url_key = "instance_url" if name == "salesforce" else "base_url"
    update[url_key] = info[url_key]
    if info.get("ca_bundle"):
        update["ca_bundle"] = (base / info["ca_bundle"]).resolve()
    if name == "salesforce":
        update.update(_salesforce_sandbox_auth(current, info, base, env, path))
    elif name == "lms" and current.auth == "basic":
        env[current.key_env], env[current.secret_env] = info["key"], info["secret"]
    else:
        env[current.access_token_env] = info["access_token"]
    return current.model_copy(update=update)


def _salesforce_sandbox_auth(
    current: SalesforceConfig, info: dict[str, Any], base: Path, env: dict[str, str], path: Path
) -> dict[str, Any]:
    auth = current.auth
    if auth.method == "static_token":
        env[current.access_token_env] = info["access_token"]
        return {}
    oauth = info.get("oauth")
    if not isinstance(oauth, dict):
        msg = "the sandbox state file has no OAuth details for Salesforce"
        raise ConfigError([Problem(msg, file=str(path), hint="restart the sandboxes with this version of prm-sync")])
    env[auth.consumer_key_env] = oauth["consumer_key"]
    changes: dict[str, Any] = {"login_url": oauth["login_url"]}
    if auth.method == "client_credentials":
        env[auth.consumer_secret_env] = oauth["consumer_secret"]
    else:
        key_file = (base / oauth["private_key_file"]).resolve()
        changes.update(username=oauth["username"], audience=oauth["audience"])
        if auth.private_key_env:
            env[auth.private_key_env] = key_file.read_text()
        else:
            changes["private_key_file"] = key_file
    return {"auth": auth.model_copy(update=changes)}


def apply_sandbox_state(config: AppConfig, path: Path) -> AppConfig:
    """Point every system at the sandboxes described in a state file.

    The sandboxes' credentials are throwaway values written by ``prm-sync
    sandbox up``; they are exported into the environment variables the config
    names, so the connectors still read their secrets from the environment.
    """
    config, env = point_at_sandboxes(config, path)
    os.environ.update(env)
    return config


def resolve_secret(env_var: str, purpose: str) -> SecretStr:
    value = os.environ.get(env_var)
    if not value:
        raise MissingSecretError(env_var, purpose)
    return SecretStr(value)
