"""Bearer tokens for ARM from azure-identity, one credential per process.

`TokenSource` wraps the credential so that token fetches are counted (`api="token"`) and so that a
401 from ARM can force one fresh token: azure-identity caches tokens itself, and only a claims
challenge makes it bypass that cache, so a refresh passes the challenge's claims when ARM sent one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential

from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import AzureConfig

log = logging.getLogger(__name__)

# Renew a little before expiry so that a token never dies between fetch and use.
EXPIRY_MARGIN_SECONDS = 300.0
# A 401 without a claims challenge, answered by the library with the very token ARM refused (its
# cache), builds a new credential; at most this often, so that a 401 no token cures cannot turn
# every request into a token request.
RENEW_MIN_SECONDS = 60.0


class TokenError(Exception):
    """No token could be had; the message names the credential and reason, never a secret."""


def build_credential(config: AzureConfig, environ: Mapping[str, str] | None = None) -> TokenCredential:
    """Build the one azure-identity credential that `azure.auth` names."""
    # Imported here: azure-identity is heavy, and `--version` or a config error need none of it.
    from azure import identity  # noqa: PLC0415

    env = os.environ if environ is None else environ
    tenant, client = config.tenant_id or "", config.client_id or ""
    authority = config.authority_host
    if config.auth == "managed_identity":
        return identity.ManagedIdentityCredential(client_id=config.client_id)
    if config.auth == "workload_identity":
        return identity.WorkloadIdentityCredential(tenant_id=tenant, client_id=client, authority=authority)
    if config.auth == "client_secret":
        secret = _read_secret(config.client_secret_file) or env.get("AZURE_CLIENT_SECRET", "")
        return identity.ClientSecretCredential(tenant, client, secret, authority=authority)
    if config.auth == "client_certificate":
        return identity.CertificateCredential(
            tenant, client, certificate_path=str(config.client_certificate_file), authority=authority
        )
    if config.auth == "azure_cli":
        return identity.AzureCliCredential(tenant_id=tenant)
    return identity.DefaultAzureCredential(authority=authority, managed_identity_client_id=config.client_id)


def _read_secret(path: Path | None) -> str:
    if path is None:
        return ""
    return path.read_text(encoding="utf-8").strip()


class TokenSource:
    """Hands out a bearer token for one scope, fetching a new one only when needed."""

    def __init__(
        self,
        credential: TokenCredential,
        scope: str,
        telemetry: ApiTelemetry,
        clock: Callable[[], float] = time.time,
        *,
        renew: Callable[[], TokenCredential] | None = None,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._telemetry = telemetry
        self._clock = clock
        self._renew = renew  # builds a credential like `credential`, with an empty token cache
        self._renewed_at = -RENEW_MIN_SECONDS
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_on = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token is not None and self._clock() < self._expires_on - EXPIRY_MARGIN_SECONDS:
                return self._token
            return self._fetch(claims=None)

    def refresh(self, rejected: str, claims: str | None) -> str:
        """Called after ARM answered 401 to `rejected`; returns a token to retry with."""
        with self._lock:
            if self._token is not None and self._token != rejected:
                return self._token  # another thread already refreshed
            token = self._fetch(claims=claims)
            # With claims the library bypasses its cache; without, it may hand back the refused
            # token (say ARM saw it as expired before the library did): a fresh credential won't.
            now = time.monotonic()
            if token == rejected and self._renew is not None and now - self._renewed_at >= RENEW_MIN_SECONDS:
                self._renewed_at = now
                self._credential = self._renew()
                token = self._fetch(claims=claims)
            return token

    def _fetch(self, claims: str | None) -> str:
        started = time.monotonic()
        kwargs: dict[str, Any] = {"claims": claims} if claims else {}
        try:
            access = self._credential.get_token(self._scope, **kwargs)
        except Exception as exc:  # noqa: BLE001 - azure-identity raises many types; all mean "no token"
            self._telemetry.record("token", "error", time.monotonic() - started)
            # The library's message says which credential failed and why; it carries no secret.
            reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise TokenError(f"could not get an Azure token: {reason}") from None
        self._telemetry.record("token", "ok", time.monotonic() - started)
        self._token = access.token
        self._expires_on = float(access.expires_on)
        return access.token
