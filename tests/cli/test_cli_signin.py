"""Signing in to Salesforce from the command line: a JWT sign-in works, a refused one is one line and exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.cli import invoke

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, sandbox: Any) -> Path:
    path = tmp_path / "prm_sync.yaml"
    path.write_text(yaml.safe_dump({
        "version": 1,
        "data_dir": str(tmp_path / "data"),
        "mappings": [str(REPO / "mappings" / "salesforce.yaml")],
        "systems": {"salesforce": {
            "ca_bundle": sandbox.ca_bundle,
            "auth": {"method": "jwt_bearer", "login_url": sandbox.url, "audience": "https://login.salesforce.com",
                     "username": sandbox.app.oauth.integration_user.username,
                     "private_key_file": str(sandbox.app_files.private_key)},
        }},
    }))
    return path


@pytest.mark.parametrize("consumer_key_is_right", [True, False], ids=["signs-in", "refused"])
def test_validate_remote_signs_in_with_jwt_bearer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, salesforce_sandbox: Any, consumer_key_is_right: bool
) -> None:
    app = salesforce_sandbox.connected_app
    monkeypatch.setenv("SALESFORCE_CONSUMER_KEY", app.consumer_key if consumer_key_is_right else "3MVGtypo")
    result = invoke(["--config", str(_config(tmp_path, salesforce_sandbox)), "validate", "--remote"])
    assert salesforce_sandbox.app.calls["oauth.token"] == 1
    secrets = [app.consumer_secret, salesforce_sandbox.app_files.private_key.read_text().splitlines()[1],
               *salesforce_sandbox.app.oauth.sessions]
    assert [s[:8] for s in secrets if s in result.output] == [] and "Traceback" not in result.output
    if consumer_key_is_right:
        assert result.exit_code == 0, result.output
        assert salesforce_sandbox.app.calls["describe"] >= 1  # the remote check ran on the OAuth session
        return
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    line = " ".join(result.stderr.split())  # the console folds long lines at its width
    assert "refused: invalid_client_id" in line
    assert "fix systems.salesforce.auth.consumer_key_env ($SALESFORCE_CONSUMER_KEY)" in line


def _other_key(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "not-the-uploaded.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


@pytest.mark.parametrize("case", ["jwt-key-without-its-certificate", "client-credentials-wrong-secret"])
def test_documented_oauth_refusals_are_one_line_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, salesforce_sandbox: Any, case: str
) -> None:
    """invalid_grant (the key does not match the uploaded certificate) and invalid_client (a wrong secret)."""
    app = salesforce_sandbox.connected_app
    monkeypatch.setenv("SALESFORCE_CONSUMER_KEY", app.consumer_key)
    path = _config(tmp_path, salesforce_sandbox)
    doc = yaml.safe_load(path.read_text())
    if case == "jwt-key-without-its-certificate":
        doc["systems"]["salesforce"]["auth"]["private_key_file"] = str(_other_key(tmp_path))
        said, setting = "refused: invalid_grant", "systems.salesforce.auth.private_key_file"
    else:
        monkeypatch.setenv("SALESFORCE_CONSUMER_SECRET", "not-the-secret")
        doc["systems"]["salesforce"]["auth"] = {"method": "client_credentials", "login_url": salesforce_sandbox.url}
        said, setting = "refused: invalid_client", "systems.salesforce.auth.consumer_secret_env ($SALESFORCE_CONSUMER_SECRET)"
    path.write_text(yaml.safe_dump(doc))
    result = invoke(["--config", str(path), "validate", "--remote"])
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.output
    line = " ".join(result.stderr.split())
    assert said in line and setting in line, line
    assert "not-the-secret" not in result.output and app.consumer_secret not in result.output
