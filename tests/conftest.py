"""Shared pytest wiring.

``tests/`` has no ``__init__.py``, so pytest puts this directory on sys.path
when it imports this conftest; plugin modules are therefore named from here
(``sandbox_fixtures.<system>``), not ``tests.sandbox_fixtures...``.
"""

pytest_plugins = [
    "sandbox_fixtures.salesforce",
    "sandbox_fixtures.lms",
    "sandbox_fixtures.erp",
    "sandbox_fixtures.hubspot",
    "fixtures.database",
    "sandbox_fixtures.cluster",
]


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_orchestrator_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI runs in tests never write to a developer's Dagster instance; tests of that opt in."""
    monkeypatch.setenv("PRM_SYNC_OBSERVERS", "off")
