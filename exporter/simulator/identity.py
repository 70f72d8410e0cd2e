"""The App Service managed-identity endpoint, and the bearer-token check of every ARM request.

azure-identity's ManagedIdentityCredential, given IDENTITY_ENDPOINT and IDENTITY_HEADER, sends
`GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…` with `X-IDENTITY-HEADER: <secret>`
(MSAL's _obtain_token_on_app_service) and reads `access_token` and `expires_on` (epoch seconds,
as a string) from the answer, `statusCode` and `message` from a refusal.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import threading
import time

from exporter.simulator.routing import IDENTITY, Host, Request, Response, Route, arm_error, json_response, route

MSI_PATH = "/msi/token"


class TokenIssuer:
    """Issues opaque bearer tokens and recognises them. Expiry runs on the wall clock, not the
    simulator's clock: azure-identity computes `expires_in` from time.time()."""

    def __init__(self, lifetime: float = 86400.0) -> None:
        self.secret = secrets.token_urlsafe(24)
        self.lifetime = lifetime
        self.client_id = "7d1a4c52-58ae-4f67-9c6b-0d4b1e3f9a21"
        self._expiry: dict[str, float] = {}
        self._revoked: dict[str, int] = {}  # token -> when it was revoked (epoch seconds)
        self._lock = threading.Lock()

    def issue(self) -> tuple[str, int]:
        token = "sim-" + secrets.token_urlsafe(32)
        expires_on = time.time() + self.lifetime
        with self._lock:
            self._expiry[token] = expires_on
        return token, int(expires_on)

    def revoke_all(self) -> None:
        revoked_at = int(time.time())
        with self._lock:
            self._revoked.update(dict.fromkeys(self._expiry, revoked_at))
            self._expiry.clear()

    def refuse(self, authorization: str | None) -> Response | None:
        """The 401 ARM answers for this Authorization header, or None if the token is good."""
        if not authorization:
            message = "Authentication failed. The 'Authorization' header is missing."
            return _unauthorized("AuthenticationFailed", message)
        scheme, _, token = authorization.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        with self._lock:
            expiry, revoked_at = self._expiry.get(token), self._revoked.get(token)
        if revoked_at is not None:
            return _revoked(revoked_at)
        if expiry is None:
            return _unauthorized("InvalidAuthenticationToken", "The access token is invalid.")
        if expiry <= time.time():
            return _unauthorized("ExpiredAuthenticationToken", "The access token has expired.")
        return None


def _unauthorized(code: str, message: str) -> Response:
    response = arm_error(401, code, message)
    response.headers["WWW-Authenticate"] = (
        'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", '
        f'error_description="{message}"'
    )
    return response


def _revoked(revoked_at: int) -> Response:
    # Continuous access evaluation: ARM refuses a revoked token with a claims challenge, and a
    # client that passes those claims to azure-identity gets a fresh token instead of its cached one.
    claims = json.dumps({"access_token": {"nbf": {"essential": True, "value": str(revoked_at)}}})
    response = arm_error(401, "InvalidAuthenticationToken", "The access token has been revoked.")
    response.headers["WWW-Authenticate"] = (
        'Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
        f'error="insufficient_claims", claims="{base64.b64encode(claims.encode()).decode()}"'
    )
    return response


def issue_token(sim: Host, request: Request, _match: re.Match[str]) -> Response:
    secret = request.headers.get("x-identity-header", "")
    if not hmac.compare_digest(secret.encode(), sim.identity_header.encode()):
        return json_response(401, {"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong."})
    resource = request.query.get("resource")
    if not resource:
        return json_response(400, {"statusCode": 400, "message": "The 'resource' parameter is required."})
    token, expires_on = sim.tokens.issue()
    return json_response(
        200,
        {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": sim.tokens.client_id,
        },
    )


ROUTES: list[Route] = [route("GET", re.escape(MSI_PATH), "token", issue_token, IDENTITY)]
