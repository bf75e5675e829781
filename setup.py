"""Build step: ship the repository's ``config/`` and ``mappings/`` inside the wheel.

Everything else about the package is declared in ``pyproject.toml``. The
YAML files stay where people edit them (the repository root); this copies
them into ``prm_sync/_defaults/`` of the build, which ``prm_sync.defaults``
reads when installed. Editable installs read the checkout instead, so
nothing is copied for them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("config", "mappings")


class BuildWithDefaults(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "prm_sync" / "_defaults"
        for name in SHIPPED:
            shutil.copytree(ROOT / name, target / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithDefaults})
