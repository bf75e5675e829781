"""What a client asks before anything else: which API versions the org serves and what each offers.

``GET /services/data/`` lists the versions (no authentication, as on a real
org) as ``[{"label", "url", "version"}]``, oldest first; ``GET
/services/data/vXX.X/`` lists the resources of one version by name and URL,
with the session user's ``identity`` URL. The resource list names only what this sandbox serves, so a client that
discovers its endpoints from it never reaches an unimplemented one.

A version outside the served range answers as the real REST API does: a
retired version (30.0 and older, retired in Summer '25) is ``410 GONE``; a
version this org does not serve is ``404 NOT_FOUND``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from connectors.sandbox.http import SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.app import SalesforceSandbox

# (version, release label); the newest is what the org runs
VERSIONS: tuple[tuple[str, str], ...] = (
    ("59.0", "Winter '24"),
    ("60.0", "Spring '24"),
    ("61.0", "Summer '24"),
    ("62.0", "Winter '25"),
    ("63.0", "Spring '25"),
    ("64.0", "Summer '25"),
)
SERVED = frozenset(v for v, _ in VERSIONS)
LAST_RETIRED = 30.0
# resource name -> path under the version, for what this sandbox implements
RESOURCES = ("composite", "jobs", "limits", "query", "queryAll", "sobjects", "tooling")
_VERSION_PATH = re.compile(r"^/services/data/v([^/]*)(/|$)")


def version_error(path: str) -> SandboxResponse | None:
    """The real API's answer for a version this org does not serve, or None when it does."""
    m = _VERSION_PATH.match(path)
    if m is None or m.group(1) in SERVED:
        return None
    raw = m.group(1)
    try:
        retired = float(raw) <= LAST_RETIRED
    except ValueError:
        retired = False
    if retired:
        body = [{"message": f"API version {raw} has been retired and is no longer available", "errorCode": "GONE"}]
        return SandboxResponse.json(410, body)
    body = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    return SandboxResponse.json(404, body)


def register(app: SalesforceSandbox) -> None:
    app.route("GET", r"/services/data/?", _versions, "versions")

    def resources(request: SandboxRequest) -> SandboxResponse:
        base = f"/services/data/v{request.params['version']}"
        body = {name: f"{base}/{name}" for name in RESOURCES}
        user = app.oauth.bearer_user(request, app.access_token)
        if user is not None:  # the session's identity URL, as on a real org
            host = request.header("host") or "localhost"
            body["identity"] = f"https://{host}/id/{app.oauth.org_id}/{user.user_id}"
        return SandboxResponse.json(200, body)

    app.route("GET", r"/services/data/v(?P<version>\d+\.\d+)/?", resources, "resources")


def _versions(request: SandboxRequest) -> SandboxResponse:
    body: list[dict[str, Any]] = [
        {"label": label, "url": f"/services/data/v{version}", "version": version} for version, label in VERSIONS
    ]
    return SandboxResponse.json(200, body)
