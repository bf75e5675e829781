"""What every command needs: the loaded config and a migrated store, built lazily.

Commands that only read files (``validate``, ``mappings schema``) never open
the database; commands that do call ``open_store`` which migrates an empty
database or says exactly what to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prm_sync.config import AppConfig, default_config_path, load_config

MAX_ID = 2**63 - 1  # store ids are 64-bit; a larger number is a typo, refused by the option parser
MAX_LIMIT = 10_000  # rows a listing prints at most


@dataclass
class CliState:
    config_path: Path | None = None
    sandbox_state: Path | None = None
    debug: bool = False
    _config: AppConfig | None = None

    def reset(self) -> None:
        """Forget the loaded config: each invocation reads its own files."""
        self._config = None

    def config_file(self) -> Path:
        """The file in use: ``--config``, ``$PRM_SYNC_CONFIG``, ``./config/prm_sync.yaml``, else the shipped one."""
        return self.config_path or default_config_path()

    def config(self) -> AppConfig:
        if self._config is None:
            self._config = load_config(self.config_file(), sandbox_state=self.sandbox_state)
        return self._config


state = CliState()
