"""Where the shipped configuration and mappings live, installed from a wheel or in a checkout.

``config/`` and ``mappings/`` stay at the repository root (one source of
truth, edited there); ``setup.py`` copies them into the wheel as
``prm_sync/_defaults/``. A checkout (or an editable install) has no such
folder and reads the repository root instead, so both find the same files
by the same names.
"""

from __future__ import annotations

from pathlib import Path

PACKAGED = Path(__file__).resolve().with_name("_defaults")
CHECKOUT = Path(__file__).resolve().parents[1]


def root() -> Path:
    """The folder holding ``config/`` and ``mappings/``: the wheel's copy, else the checkout."""
    return PACKAGED if PACKAGED.is_dir() else CHECKOUT


def config_file() -> Path:
    """The shipped ``prm_sync.yaml`` (a template for real systems: placeholder URLs, env-var names)."""
    return root() / "config" / "prm_sync.yaml"


def demo_config_file() -> Path:
    """The configuration ``prm-sync demo`` uses."""
    return root() / "config" / "demo.yaml"


def mappings_dir() -> Path:
    return root() / "mappings"


def is_installed_copy(path: Path) -> bool:
    """True for a file inside the wheel's read-only copy (site-packages is no place for data)."""
    return PACKAGED.is_dir() and path.resolve().is_relative_to(PACKAGED)
