"""Fidelity tests: the sandboxes as any standards-conforming client sees them (see fixtures.fidelity)."""

from __future__ import annotations

import pytest
from fixtures.fidelity import BUILDERS, Target


@pytest.fixture(params=list(BUILDERS))
def target(request: pytest.FixtureRequest) -> Target:
    """Each sandbox in turn (strict: an unimplemented request fails the test at teardown)."""
    fixture, build = BUILDERS[request.param]
    return build(request.getfixturevalue(fixture))


@pytest.fixture(params=[name for name in BUILDERS if name != "erp"])
def resource_target(request: pytest.FixtureRequest) -> Target:
    """The sandboxes with GET resources (Odoo's external API is POST /jsonrpc only)."""
    fixture, build = BUILDERS[request.param]
    return build(request.getfixturevalue(fixture))
