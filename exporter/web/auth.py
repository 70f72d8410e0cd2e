"""What the HTTP server applies from a web config: TLS context and HTTP basic auth.

Basic auth checks bcrypt hashes (the exporter-toolkit's `basic_auth_users`) with no timing leak.

Every well-formed attempt costs exactly one bcrypt computation, at the users' cost, whether or not
the user exists; the result is compared with `hmac.compare_digest`. So the time of a 401 says
nothing about which users exist or how much of a password was right.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from exporter.config.web import read_web_config, server_context

log = logging.getLogger(__name__)

# bcrypt reads only the first 72 bytes of a password, and bcrypt>=5 refuses longer ones: a longer
# password is refused (after the same bcrypt work), never silently truncated into a match.
MAX_PASSWORD_BYTES = 72
# A bcrypt hash of 32 random bytes nobody kept (generated once for this file). Unknown users are
# checked against it, with its cost field set to the configured users' cost, so that they take as
# long as known ones.
_DUMMY_HASH = b"$2b$10$GaAJSeOU7E/IfER9XWP.SuMMxhE.spXwuDwFN0vU8DhSp.pKaIg.y"
# Only correct credentials enter the cache, so it holds at most one entry per user in practice;
# the cap is a guard, not a policy.
_CACHE_LIMIT = 1024


class BasicAuthenticator:
    """`authenticator(authorization_header) -> bool`; one per web config (a reload builds a new one).

    Successful checks are cached. Why: bcrypt is slow on purpose (cost 10 ≈ 100 ms of one core),
    and Prometheus sends the same credentials with every scrape of every replica; without a cache
    each scrape would cost 100+ ms of CPU and the bcrypt lock below would queue concurrent scrapes
    behind each other. The exporter-toolkit caches for the same reason. What makes it safe:
    - only successes are cached: every wrong guess keeps costing one full bcrypt;
    - the key is an HMAC of user and password under a random per-process key, so the cache holds
      neither a password nor a fast hash of one that could be attacked offline;
    - a cache hit is faster than a miss, but a hit needs the exact credentials that already got a
      200, so the timing tells an attacker only what that 200 already told them;
    - the cache dies with this object, so a reloaded config checks every user afresh.
    """

    def __init__(self, users: Iterable[tuple[str, str]]) -> None:
        self._users = {user.encode(): hashed.encode() for user, hashed in users}
        if not self._users:
            raise ValueError("BasicAuthenticator needs at least one user")
        # Hashes are "$2b$10$...": the cost is bytes 4-5. The most common one hides the most users.
        cost = Counter(hashed[4:6] for hashed in self._users.values()).most_common(1)[0][0]
        self._dummy = _DUMMY_HASH[:4] + cost + _DUMMY_HASH[6:]
        self._cache_key = secrets.token_bytes(32)
        self._verified: set[bytes] = set()
        self._cache_lock = threading.Lock()
        # One bcrypt at a time (as the exporter-toolkit does): bcrypt releases the GIL, so without
        # this a flood of wrong passwords could occupy every core; cached scrapes never wait on it.
        self._bcrypt_lock = threading.Lock()

    def __call__(self, authorization: str | None) -> bool:
        credentials = parse_basic(authorization)
        if credentials is None:
            # Nothing secret-dependent to hide: no credentials, or not Basic, or not base64.
            return False
        user, password = credentials
        digest = hmac.digest(self._cache_key, len(user).to_bytes(4, "big") + user + password, "sha256")
        with self._cache_lock:
            if digest in self._verified:
                return True
        stored = self._users.get(user)
        expected = stored if stored is not None else self._dummy
        with self._bcrypt_lock:
            computed = _bcrypt(password[:MAX_PASSWORD_BYTES], expected)
        ok = hmac.compare_digest(computed, expected) and stored is not None and len(password) <= MAX_PASSWORD_BYTES
        if ok:
            with self._cache_lock:
                if len(self._verified) >= _CACHE_LIMIT:
                    self._verified.clear()
                self._verified.add(digest)
        return ok


def parse_basic(authorization: str | None) -> tuple[bytes, bytes] | None:
    """`Basic base64(user:password)` (RFC 7617) → (user, password) as bytes; None if malformed."""
    if not authorization:
        return None
    scheme, _, param = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text in the header
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


def _bcrypt(password: bytes, hashed: bytes) -> bytes:
    try:
        return bcrypt.hashpw(password, hashed)
    except ValueError:
        # A hash the library cannot use (the web config validated its form, not every detail).
        log.warning("a basic_auth_users hash is not usable by bcrypt; the login is refused")
        return b""


@dataclass(frozen=True, slots=True)
class WebSecurity:
    """What the HTTP server applies: built whole from one file, replaced whole on reload."""

    tls: ssl.SSLContext | None = None
    authenticator: Callable[[str | None], bool] | None = None
    response_headers: tuple[tuple[str, str], ...] = ()


def load_web_security(path: str | Path) -> WebSecurity:
    """Reads, validates and prepares a web config; every problem, TLS files included, in one ConfigError."""
    config = read_web_config(path)
    return WebSecurity(
        tls=server_context(config.tls) if config.tls else None,
        authenticator=BasicAuthenticator(config.basic_auth_users) if config.basic_auth_users else None,
        response_headers=config.headers,
    )
