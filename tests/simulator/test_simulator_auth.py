"""The simulator's App Service managed-identity endpoint works with azure-identity's real
ManagedIdentityCredential, and every ARM request needs one of its tokens."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest
import requests
from azure.identity import ManagedIdentityCredential

from exporter.simulator import EstateSpec, Simulator

NOW = EstateSpec().epoch + 40 * 86400 + 3600.0
API = {"api-version": "2025-08-01"}
TIMEOUT = 10


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(sim: Simulator) -> str:
    response = requests.get(
        sim.identity_endpoint,
        params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
        headers={"X-IDENTITY-HEADER": sim.identity_header},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    return str(response.json()["access_token"])


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(EstateSpec(), clock=lambda: NOW) as simulator:
        yield simulator


@pytest.fixture
def session(sim: Simulator) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers.update(bearer(token_for(sim)))
        yield s


@pytest.fixture
def identity_env(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in sim.identity_env().items():
        monkeypatch.setenv(name, value)


def test_managed_identity_credential_gets_a_token_that_authorizes_arm(sim, identity_env):
    credential = ManagedIdentityCredential()
    token = credential.get_token("https://management.azure.com/.default")
    response = requests.get(f"{sim.url}/subscriptions", params=API, headers=bearer(token.token), timeout=TIMEOUT)
    assert response.status_code == 200
    listed = [s["subscriptionId"] for s in response.json()["value"]]
    assert listed == [s.subscription_id for s in sim.estate.subscriptions]
    token_request, arm_request = sim.requests()
    assert (token_request.api, token_request.query["resource"]) == ("token", "https://management.azure.com")
    assert (arm_request.api, arm_request.status, arm_request.api_version) == ("list_subscriptions", 200, "2025-08-01")


def test_missing_or_unknown_token_gets_401_with_an_arm_error_body(sim):
    missing = requests.get(f"{sim.url}/subscriptions", params=API, timeout=TIMEOUT)
    forged = requests.get(
        f"{sim.url}/subscriptions", params=API, headers={"Authorization": "Bearer forged"}, timeout=TIMEOUT
    )
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "AuthenticationFailed")
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")
    assert forged.headers["WWW-Authenticate"].startswith("Bearer ")


def test_revoked_token_gets_401_and_a_fresh_token_works(sim, session):
    assert session.get(f"{sim.url}/subscriptions", params=API).status_code == 200
    sim.revoke_tokens()
    assert session.get(f"{sim.url}/subscriptions", params=API).status_code == 401
    session.headers.update(bearer(token_for(sim)))
    assert session.get(f"{sim.url}/subscriptions", params=API).status_code == 200


def test_revoked_token_carries_a_claims_challenge_that_makes_azure_identity_refresh(sim, identity_env):
    credential = ManagedIdentityCredential()
    scope = "https://management.azure.com/.default"
    old = credential.get_token(scope).token
    sim.revoke_tokens()
    refused = requests.get(f"{sim.url}/subscriptions", params=API, headers=bearer(old), timeout=TIMEOUT)
    challenge = refused.headers["WWW-Authenticate"]
    assert refused.status_code == 401
    assert 'error="insufficient_claims"' in challenge
    claims = base64.b64decode(re.search(r'claims="([^"]+)"', challenge)[1]).decode()
    assert json.loads(claims)["access_token"]["nbf"]["essential"] is True
    assert credential.get_token(scope).token == old  # the library's cache still holds the revoked one
    fresh = credential.get_token(scope, claims=claims).token
    assert fresh != old
    assert requests.get(f"{sim.url}/subscriptions", params=API, headers=bearer(fresh), timeout=TIMEOUT).ok


def test_token_endpoint_refuses_a_wrong_identity_header(sim):
    response = requests.get(
        sim.identity_endpoint, params={"resource": "x"}, headers={"X-IDENTITY-HEADER": "nope"}, timeout=TIMEOUT
    )
    assert response.status_code == 401
    assert "access_token" not in response.json()


def test_an_expired_token_gets_401_expired(sim):
    sim.tokens.lifetime = -1.0
    refused = requests.get(f"{sim.url}/subscriptions", params=API, headers=bearer(token_for(sim)), timeout=TIMEOUT)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "ExpiredAuthenticationToken")
