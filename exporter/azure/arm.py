"""The one HTTP path to Azure Resource Manager: session, timeouts, retries, throttling, paging.

Policy, in one place:
- 429: wait `Retry-After` (bounded), and hold every other request of the same subscription until
  then, so a throttled subscription gets no retry storm. A wait beyond `retry_after_cap` is not
  sat out: requests of that subscription fail at once until it has passed.
- Resource Graph's per-user quota: an answer with `x-ms-user-quota-remaining: 0` holds the next
  request until `x-ms-user-quota-resets-after` has passed (and a 429 without Retry-After waits that).
- 5xx, timeouts, connection resets, unreadable JSON (or a list page without a `value` array):
  exponential backoff with full jitter, bounded attempts.
- 401: one token refresh and one retry per request.
- Other 4xx: no retry; the caller decides (a 403 vault is down, its neighbours are not).
- At most `max_in_flight` requests on the wire at once, whatever the number of poll threads.
- With a `Pacer`, requests of one subscription are spread under ARM's token bucket, slower when
  Azure's `x-ms-ratelimit-remaining-*` headers run low (exporter/azure/pacing.py).
"""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

import msgspec
import requests
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as TransportTimeout
from urllib3.response import BaseHTTPResponse

from exporter import __version__
from exporter.azure.credential import TokenError, TokenSource
from exporter.azure.pacing import Pacer
from exporter.azure.telemetry import USER_QUOTA_SCOPE, ApiTelemetry

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})
DEFAULT_MAX_PAGES = 5000
_CLAIMS = re.compile(r'claims="([^"]+)"')
_HMS = re.compile(r"(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)")


class ArmError(Exception):
    """A request that failed for good. The message is safe to log: no token, no secret."""

    def __init__(self, api: str, status: int | None, code: str, message: str) -> None:
        self.api = api
        self.status = status
        self.code = code
        self.message = message  # without the api and status prefix
        detail = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{api}: {detail} {code}: {message}".rstrip(": "))


class ArmClient:
    """GETs JSON from ARM under the retry policy above, recording every attempt in telemetry."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        telemetry: ApiTelemetry,
        *,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        retry_after_cap: float = 120.0,
        max_in_flight: int = 8,
        max_pages: int = DEFAULT_MAX_PAGES,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        self.base_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._origin = (parts.scheme, parts.netloc)
        self._tokens = tokens
        self.telemetry = telemetry
        # urllib3 straight, not requests on top of it: requests' per-request work (preparing and
        # re-quoting the URL, cookies, hooks, reading the body in 10 kB chunks) cost more than
        # fetching a job page itself (bench/RESULTS.md, pipeline). The environment (HTTPS_PROXY,
        # NO_PROXY, REQUESTS_CA_BUNDLE, ...) is read once, here, as requests reads it: every
        # request of this client goes to its one origin (nextLinks are re-anchored on it).
        self._pool = _new_pool_manager(self.base_url, max_in_flight)
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._retry_after_cap = retry_after_cap
        self._max_pages = max_pages
        self._in_flight = threading.BoundedSemaphore(max_in_flight)
        self._closed = threading.Event()
        # Waits end early when the client is closed, so a shutdown never sits out a backoff.
        self._sleep: Callable[[float], object] = sleep or self._closed.wait
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._gate_lock = threading.Lock()
        self._not_before: dict[str, float] = {}
        self._pacer = pacer

    def close(self) -> None:
        """Abort waits and refuse further requests; a request on the wire ends with its timeout."""
        self._closed.set()
        self._pool.clear()

    def get(
        self,
        path: str,
        *,
        api: str,
        params: Mapping[str, str] | None = None,
        subscription_id: str = "",
    ) -> Any:
        """GET `path` (relative to the ARM base URL) and return its decoded JSON body."""
        return self._request(self.base_url + path, params, api, subscription_id)

    def post(
        self,
        path: str,
        body: Any,
        *,
        api: str,
        params: Mapping[str, str] | None = None,
        subscription_id: str = "",
    ) -> Any:
        """POST `body` as JSON to `path` (a query, not a change: retried like a GET) and decode the answer."""
        data = json.dumps(body, separators=(",", ":")).encode()
        return self._request(self.base_url + path, params, api, subscription_id, data)

    def pages(
        self,
        path: str,
        *,
        api: str,
        api_version: str,
        params: Mapping[str, str] | None = None,
        subscription_id: str = "",
        max_pages: int | None = None,
        post: Any = None,
        decode: PageDecoder | None = None,
    ) -> Iterator[list[Any]]:
        """Yield the `value` list of each page, following `nextLink` until it is absent.

        With `post`, every page (the nextLinks too) is a POST of that JSON body: a list that is a
        query (BackupCrrJobs_List) names its vault in the body, which each page needs again.
        `decode` reads a page's bytes into its value list and nextLink, or returns None for a body
        it does not take (that one is then decoded as any other)."""
        max_pages = self._max_pages if max_pages is None else max_pages
        query = {"api-version": api_version, **(params or {})}
        data = None if post is None else json.dumps(post, separators=(",", ":")).encode()
        decoder = decode or _page
        value, link = self._request(self.base_url + path, query, api, subscription_id, data, page=decoder)
        seen: set[str] = set()
        for number in range(1, max_pages + 1):
            yield value
            if not link:
                return
            if number == max_pages:
                break  # the page after the last allowed one is never requested
            url = self._next_url(link, api_version)
            if url in seen:
                raise ArmError(api, None, "PagingLoop", "nextLink repeated an earlier page")
            seen.add(url)
            value, link = self._next_page(url, api, subscription_id, data, decoder)
        raise ArmError(api, None, "TooManyPages", f"stopped after {max_pages} pages")

    def _next_page(
        self, url: str, api: str, subscription_id: str, data: bytes | None, decoder: PageDecoder
    ) -> tuple[list[Any], str | None]:
        # The nextLink's bytes go on the wire as sent (see _VerbatimTarget).
        target = _VERBATIM_TARGET.set(url.partition(self._origin[1])[2])
        try:
            page: tuple[list[Any], str | None] = self._request(url, None, api, subscription_id, data, page=decoder)
        finally:
            _VERBATIM_TARGET.reset(target)
        return page

    def _next_url(self, link: str, api_version: str) -> str:
        # nextLink may carry an old api-version (recorded: 2017-07-01 on a 2025 request) and a
        # lowercase %24skiptoken: swap the version, keep every other byte of the query as sent.
        # It is re-anchored on our own origin so the bearer token never goes to another host.
        parts = urlsplit(link)
        query = "&".join(
            f"api-version={api_version}" if item.lower().startswith("api-version=") else item
            for item in parts.query.split("&")
            if item
        )
        if "api-version=" not in query:
            query = f"api-version={api_version}&{query}" if query else f"api-version={api_version}"
        return urlunsplit((*self._origin, parts.path, query, ""))

    def _request(
        self,
        url: str,
        params: Mapping[str, str] | None,
        api: str,
        subscription_id: str,
        data: bytes | None = None,
        *,
        page: PageDecoder | None = None,
    ) -> Any:
        """One call with the retry policy of the module docstring: the JSON body (with `page`: the
        page's value list and nextLink), or ArmError."""
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            token = self._ready_to_send(api, subscription_id)
            started = time.monotonic()
            try:
                response = self._send(url, params, data, token)
            except (TransportError, OSError) as exc:
                failure = self._transport_failure(api, exc, time.monotonic() - started)
            else:
                self.telemetry.record(api, str(response.status), time.monotonic() - started)
                quota_wait = self._observe_budgets(api, subscription_id, response)
                status = response.status
                if status == 200:
                    try:
                        return self._read_body(api, response, page=page)
                    except ArmError as exc:
                        failure = exc
                elif status == 401 and not refreshed:
                    refreshed = True
                    attempt -= 1  # the refresh retry is not a throttling/backoff attempt
                    self._refresh_token(api, token, response)
                    continue
                elif status == 429:
                    self._sit_out_throttling(api, subscription_id, response, attempt, quota_wait)
                    continue
                elif status in RETRYABLE_STATUSES:
                    failure = _error_from(api, response)
                    if self._retry_after_unavailable(subscription_id, response, attempt):
                        continue
                else:
                    raise _error_from(api, response)
            if attempt >= self._max_attempts:
                raise failure
            delay = self._backoff(attempt)
            log.debug("%s failed (%s); retry %d in %.2fs", api, failure, attempt, delay)
            self._sleep(delay)

    def _ready_to_send(self, api: str, subscription_id: str) -> str:
        """Waits for the subscription's gate and pacer; the bearer token to send."""
        self._wait_for_gate(api, subscription_id)
        if self._pacer is not None:
            pause = self._pacer.delay(subscription_id)
            if pause > 0:
                self._sleep(pause)
        if self._closed.is_set():
            raise ArmError(api, None, "Closed", "the exporter is shutting down")
        try:
            return self._tokens.token()
        except TokenError as exc:
            raise ArmError(api, None, "TokenError", str(exc)) from None

    def _send(
        self, url: str, params: Mapping[str, str] | None, data: bytes | None, token: str
    ) -> BaseHTTPResponse:
        headers = {**_HEADERS, "Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if params:
            url = f"{url}?{urlencode(params)}"  # as requests encodes params: %24filter, spaces as +
        with self._in_flight:
            # No redirects: ARM answers these reads itself, and a bearer token must not follow one.
            return self._pool.urlopen(
                "GET" if data is None else "POST", url, body=data, headers=headers, timeout=self._timeout,
                retries=False, redirect=False, preload_content=True,
            )

    def _transport_failure(self, api: str, exc: Exception, elapsed: float) -> ArmError:
        # NewConnectionError is a ConnectTimeoutError too in urllib3 2: a refused connection is not a timeout.
        if isinstance(exc, TransportTimeout) and not isinstance(exc, NewConnectionError):
            self.telemetry.record(api, "timeout", elapsed)
            return ArmError(api, None, "Timeout", f"no answer within {self._timeout:g}s")
        self.telemetry.record(api, "connection_error", elapsed)
        return ArmError(api, None, "ConnectionError", type(exc).__name__)

    def _observe_budgets(self, api: str, subscription_id: str, response: BaseHTTPResponse) -> float | None:
        """Feeds the answer's rate-limit headers to telemetry and the pacer, and closes the gate when
        Resource Graph's quota is spent; the seconds until that quota resets, if it sent them."""
        remaining = self.telemetry.record_ratelimit(subscription_id, response.headers)
        # Resource Graph's small per-user quota has its own gate below; ARM's budgets pace.
        arm_remaining = [v for scope, v in remaining.items() if scope != USER_QUOTA_SCOPE]
        if subscription_id and arm_remaining and self._pacer is not None:
            self._pacer.observe(subscription_id, min(arm_remaining))
        quota_wait = _quota_reset(response.headers)
        if quota_wait is not None and response.status != 429:
            # The quota is spent: whatever comes next waits for it to refill.
            log.info("%s: Resource Graph quota exhausted; next request in %.1fs", api, quota_wait)
            self._close_gate(subscription_id, min(quota_wait, self._retry_after_cap))
        return quota_wait

    def _read_body(self, api: str, response: BaseHTTPResponse, *, page: PageDecoder | None) -> Any:
        """A 200's JSON body, or with `page` its (value, nextLink); ArmError (retryable) when it is
        not JSON, or not a page where one is due."""
        content = response.data
        if page is not None and (typed := page(content)) is not None:
            return typed
        try:
            body = _decode(content)
        except ValueError:
            failure = ArmError(api, 200, "InvalidJson", "response body is not JSON")
        else:
            # A 200 that is not a page must not pass for an empty one: the poll would
            # succeed, move the vault's watermark, and never read the jobs it missed.
            if page is None:
                return body
            if _is_page(body):
                return body["value"], body.get("nextLink")
            failure = ArmError(api, 200, "InvalidBody", "list page without a value array")
        self.telemetry.add_parse_errors({"response_body": 1})
        raise failure

    def _refresh_token(self, api: str, token: str, response: BaseHTTPResponse) -> None:
        claims = _claims(response.headers.get("WWW-Authenticate", ""))
        try:
            self._tokens.refresh(token, claims)
        except TokenError as exc:
            raise ArmError(api, None, "TokenError", str(exc)) from None

    def _sit_out_throttling(
        self, api: str, subscription_id: str, response: BaseHTTPResponse, attempt: int, quota_wait: float | None
    ) -> None:
        """A 429: closes the subscription's gate for Retry-After; raises when that is too long or
        the attempts are spent."""
        fallback = quota_wait if quota_wait is not None else self._backoff(attempt)
        wait = _retry_after(response.headers.get("Retry-After"), default=fallback)
        # Closed even when giving up: the next poll must not ask before Azure allows.
        self._close_gate(subscription_id, wait)
        if wait > self._retry_after_cap or attempt >= self._max_attempts:
            raise _error_from(api, response)
        log.info("%s throttled (429); waiting %.1fs as Retry-After asks", api, wait)

    def _retry_after_unavailable(self, subscription_id: str, response: BaseHTTPResponse, attempt: int) -> bool:
        """A 503 with Retry-After: True when it is to be retried after that wait (gate closed)."""
        if response.status != 503 or not response.headers.get("Retry-After"):
            return False
        wait = _retry_after(response.headers.get("Retry-After"), default=self._backoff(attempt))
        if attempt < self._max_attempts and wait <= self._retry_after_cap:
            self._close_gate(subscription_id, wait)
            return True
        return False

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * (2 ** (attempt - 1)))
        return self._rng.uniform(ceiling / 2, ceiling)

    def _close_gate(self, subscription_id: str, seconds: float) -> None:
        until = time.monotonic() + seconds
        with self._gate_lock:
            self._not_before[subscription_id] = max(until, self._not_before.get(subscription_id, 0.0))

    def _wait_for_gate(self, api: str, subscription_id: str) -> None:
        with self._gate_lock:
            until = self._not_before.get(subscription_id, 0.0)
        remaining = until - time.monotonic()
        if remaining > self._retry_after_cap:
            raise ArmError(api, None, "Throttled", f"Retry-After holds this subscription for {remaining:.0f}s more")
        if remaining > 0:
            self._sleep(remaining)


# The request target (path and query) to send byte for byte, set around a nextLink request.
_VERBATIM_TARGET: contextvars.ContextVar[str | None] = contextvars.ContextVar("verbatim_target", default=None)


class _VerbatimTarget(HTTPConnection):
    """Puts the nextLink's own target on the request line.

    urllib3 normalises every URL it sends: percent-escapes are upper-cased (`%2f` →
    `%2F`) and escaped unreserved characters decoded (`%7e` → `~`). A nextLink's query belongs to
    Azure, whose skip tokens are opaque; so when the target urllib3 is about to send is the
    nextLink's up to that normalisation, the nextLink's bytes are sent instead."""

    def putrequest(self, method: str, url: str, skip_host: bool = False, skip_accept_encoding: bool = False) -> None:
        verbatim = _VERBATIM_TARGET.get()
        # Only a target that is already valid on a request line: printable ASCII, no space.
        sendable = verbatim is not None and verbatim.isascii() and verbatim.isprintable() and " " not in verbatim
        if verbatim is not None and sendable and _normalised(verbatim) == _normalised(url):
            url = verbatim
        super().putrequest(method, url, skip_host=skip_host, skip_accept_encoding=skip_accept_encoding)


class _VerbatimTargetTLS(_VerbatimTarget, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _VerbatimTarget


class _PoolTLS(HTTPSConnectionPool):
    ConnectionCls = _VerbatimTargetTLS


def _normalised(target: str) -> str:
    """A target with every escape decoded: equal for the same URL however its escapes are spelt."""
    return unquote(target)


_HEADERS = {
    "User-Agent": f"azure-backup-exporter/{__version__}",
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
}


def _new_pool_manager(base_url: str, pool_size: int) -> urllib3.PoolManager:
    """Connection pools for `base_url`, with the proxy and CA bundle requests would use for it
    (HTTP(S)_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE)."""
    with requests.Session() as session:
        settings = session.merge_environment_settings(base_url, {}, None, None, None)
    verify = settings["verify"]
    tls: dict[str, Any] = {"cert_reqs": "CERT_NONE"} if verify is False else {"cert_reqs": "CERT_REQUIRED"}
    if verify is not False:
        bundle = requests.utils.DEFAULT_CA_BUNDLE_PATH if verify is True else str(verify)
        tls["ca_cert_dir" if Path(bundle).is_dir() else "ca_certs"] = bundle
    size = max(pool_size, 4)
    proxy = requests.utils.select_proxy(base_url, settings["proxies"])
    manager: urllib3.PoolManager
    if proxy:
        user, password = requests.utils.get_auth_from_url(proxy)
        auth = urllib3.util.make_headers(proxy_basic_auth=f"{user}:{password}") if user else None
        manager = urllib3.ProxyManager(proxy, num_pools=4, maxsize=size, proxy_headers=auth, **tls)
    else:
        manager = urllib3.PoolManager(num_pools=4, maxsize=size, **tls)
    manager.pool_classes_by_scheme = {"http": _Pool, "https": _PoolTLS}
    return manager


# A page's bytes → (value list, nextLink); None: not a body this decoder takes.
PageDecoder = Callable[[bytes], "tuple[list[Any], str | None] | None"]


def _page(_content: bytes) -> None:
    """The default page decoder: takes no body, so every page goes through `_decode`."""


def _is_page(body: Any) -> bool:
    """An ARM list page: `{"value": [...], "nextLink": "..."}`, nextLink absent or null on the last."""
    return (
        isinstance(body, dict)
        and isinstance(body.get("value"), list)
        and isinstance(body.get("nextLink") or "", str)
    )


def _retry_after(value: str | None, default: float) -> float:
    """Retry-After is seconds in ARM's answers; an HTTP date is allowed by RFC 9110 too."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def _quota_reset(headers: Mapping[str, str]) -> float | None:
    """Seconds until Resource Graph's user quota refills, when the answer says none is left.

    Azure docs ("Guidance for throttled requests in Azure Resource Graph"): every answer carries
    `x-ms-user-quota-remaining` (queries left) and `x-ms-user-quota-resets-after` (hh:mm:ss)."""
    remaining = headers.get("x-ms-user-quota-remaining")
    if remaining is None:
        return None
    try:
        if float(remaining) > 0:
            return None
    except ValueError:
        return None
    match = _HMS.fullmatch((headers.get("x-ms-user-quota-resets-after") or "").strip())
    if match is None:
        return 1.0  # spent, with no word on when it refills: a short pause beats a burst of 429s
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _claims(header: str) -> str | None:
    """The claims challenge of a CAE 401 (`claims="<base64 JSON>"`), decoded as azure-core does."""
    match = _CLAIMS.search(header)
    if not match:
        return None
    raw = match.group(1)
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return raw


def _decode(content: bytes) -> Any:
    """A response body, decoded straight from its bytes by msgspec (job pages have a faster, typed
    decoder of their own: exporter/parsing/job_pages.py). What msgspec refuses and json reads (a
    UTF-8 BOM, UTF-16, NaN, huge numbers) still goes through json, so the choice of decoder never
    turns a readable body into an error."""
    try:
        return _GENERIC.decode(content)
    except msgspec.DecodeError:
        return json.loads(content)


_GENERIC = msgspec.json.Decoder()


def _error_from(api: str, response: BaseHTTPResponse) -> ArmError:
    code, message = "", ""
    try:
        body = _decode(response.data)
        error = body.get("error", {}) if isinstance(body, dict) else {}
        if isinstance(error, dict):
            code = str(error.get("code", ""))[:100]
            message = str(error.get("message", ""))[:300]
    except ValueError:
        pass
    return ArmError(api, response.status, code or response.reason or "", message)
