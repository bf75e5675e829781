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
