"""Configuration: ``config/prm_sync.yaml`` validated before any I/O."""

from prm_sync.config.loader import (
    CONFIG_ENV,
    SANDBOX_STATE_ENV,
    apply_sandbox_state,
    default_config_path,
    load_config,
    point_at_sandboxes,
    read_sandbox_state,
    resolve_secret,
)
from prm_sync.config.settings import AppConfig

__all__ = [
    "CONFIG_ENV",
    "SANDBOX_STATE_ENV",
    "AppConfig",
    "apply_sandbox_state",
    "default_config_path",
    "load_config",
    "point_at_sandboxes",
    "read_sandbox_state",
    "resolve_secret",
]
