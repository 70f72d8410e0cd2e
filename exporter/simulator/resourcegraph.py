"""Azure Resource Graph, as far as the exporter asks it: the backup jobs of some vaults, paged.

The real service runs any KQL; this one recognises one query shape — the backup jobs of listed
vaults since an instant, ordered by id (the exporter's, see exporter.azure.resourcegraph) — by a
regex on its whitespace-normalised text, and answers 400 to anything else, so a client that
changes its query learns it here first. Rows are the estate's jobs as the list API shows them,
with Resource Graph's columns around them (`type` lowercased, `subscriptionId`, `resourceGroup`).

Facts taken from Microsoft's docs: jobs up to 14 days old only ("Query your backups using Azure
Resource Graph"); `$top` at most 1000 ("Working with large Azure resource data sets"); the answer
and paging shapes (REST spec examples, shared azure-samples arg_*.json); every answer carries
`x-ms-user-quota-remaining` and `x-ms-user-quota-resets-after` (hh:mm:ss), the docs' example
quota being 15 queries per 5-second window ("Guidance for throttled requests").
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
import zlib
from collections import OrderedDict
from datetime import datetime
from typing import Any

from exporter.simulator import posture
from exporter.simulator.routing import Host, Request, Response, Route, arm_error, json_response, route
from exporter.simulator.schedule import to_ticks
from exporter.simulator.wire import JOB_RESOURCE_TYPE

RETENTION_SECONDS = 14 * 86400.0
_LISTED_TYPE = f'"type":"{JOB_RESOURCE_TYPE}","properties":'
_ROW_TYPE = JOB_RESOURCE_TYPE.lower()  # Resource Graph writes resource types in lowercase
MAX_TOP = 1000
_CACHED_RESULTS = 4
_VAULT_ID = r"/subscriptions/[^/']+/resourcegroups/[^/']+/providers/microsoft\.recoveryservices/vaults/[^/']+"
_QUERY = re.compile(
    r"RecoveryServicesResources"
    r" \| where type =~ 'microsoft\.recoveryservices/vaults/backupjobs'"
    r" \| where todatetime\(properties\.startTime\) >= datetime\((?P<since>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\)"
    r" \| extend vaultId = tostring\(split\(tolower\(id\), '/backupjobs/'\)\[0\]\)"
    rf" \| where vaultId in \((?P<ids>'{_VAULT_ID}'(?:, '{_VAULT_ID}')*)\)"
    r" \| order by id asc"
    r" \| project id, name, type, subscriptionId, resourceGroup, properties"
)
_VAULT_PARTS = re.compile(
    r"/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/microsoft\.recoveryservices/vaults/([^/]+)"
)


class BadQueryError(ValueError):
    """What the real service would answer 400 to; the message goes in the error body."""


class ResourceGraph:
    """Per-simulator state: the user quota (settable by tests) and recently served results."""

    def __init__(self, quota: int = 15, window: float = 5.0) -> None:
        self.quota = quota
        self.window = window
        self._lock = threading.Lock()
        self._window_start = -math.inf
        self._used = 0
        self._results: OrderedDict[tuple[int, int], list[str]] = OrderedDict()

    def spend(self) -> tuple[bool, dict[str, str]]:
        """Count one query: (allowed, the quota headers to send)."""
        now = time.monotonic()
        with self._lock:
            if now >= self._window_start + self.window:
                self._window_start, self._used = now, 0
            allowed = self._used < self.quota
            if allowed:
                self._used += 1
            remaining = max(self.quota - self._used, 0)
            seconds = math.ceil(self._window_start + self.window - now)
        headers = {
            "x-ms-user-quota-remaining": str(remaining),
            "x-ms-user-quota-resets-after": f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
        }
        return allowed, headers

    def rows(self, key: tuple[int, int], compute: Any) -> list[str]:
        """The sorted rows (JSON texts) of one query as of one instant, computed once for its pages."""
        with self._lock:
            cached = self._results.get(key)
        if cached is None:
            cached = compute()
            with self._lock:
                self._results[key] = cached
                while len(self._results) > _CACHED_RESULTS:
                    self._results.popitem(last=False)
        return cached


def query(sim: Host, request: Request, _match: re.Match[str]) -> Response:
    allowed, headers = sim.resource_graph.spend()
    if not allowed:
        response = arm_error(429, "RateLimiting", "Too many requests. Please retry after the quota resets.")
    else:
        try:
            response = _answer(sim, request)
        except BadQueryError as error:
            response = arm_error(400, "BadRequest", str(error))
    response.headers.update(headers)
    return response


def _answer(sim: Host, request: Request) -> Response:
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise BadQueryError("the request body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise BadQueryError("the body needs a query string")
    subscriptions = body.get("subscriptions")
    if not isinstance(subscriptions, list) or not all(isinstance(s, str) for s in subscriptions):
        raise BadQueryError("this simulator needs the subscriptions list")
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise BadQueryError("options must be an object")
    if options.get("resultFormat", "objectArray") != "objectArray":
        raise BadQueryError("this simulator answers resultFormat objectArray only")
    top = options.get("$top", MAX_TOP)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise BadQueryError(f"$top must be an integer in 1..{MAX_TOP}")
    if posture.is_coverage_query(body["query"]):
        return json_response(200, posture.coverage_answer(sim, subscriptions))
    match = _QUERY.fullmatch(" ".join(body["query"].split()))
    if match is None:
        raise BadQueryError("the simulator understands only the exporter's backup jobs query")
    since = to_ticks(datetime.fromisoformat(match["since"]).timestamp())
    vault_ids = sorted(set(match["ids"][1:-1].split("', '")))
    scope = sorted(s.lower() for s in subscriptions)
    fingerprint = zlib.crc32(json.dumps([match.group(0), scope]).encode())
    token = options.get("$skipToken")
    if token is not None:
        as_of, offset = _read_token(token, fingerprint)
    else:
        skip = options.get("$skip", 0)
        if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
            raise BadQueryError("$skip must be a non-negative integer")
        as_of, offset = sim.estate.now(), skip
    rows = sim.resource_graph.rows((fingerprint, as_of), lambda: _rows(sim, vault_ids, set(scope), since, as_of))
    page = rows[offset : offset + top]
    head = {"totalRecords": len(rows), "count": len(page)}
    tail: dict[str, Any] = {"facets": [], "resultTruncated": "false"}
    if offset + top < len(rows):
        tail["$skipToken"] = _token(as_of, offset + top, fingerprint)
    # The rows are JSON texts already: spliced in, not parsed and dumped again.
    text = json.dumps(head)[:-1] + ',"data":[' + ",".join(page) + "]," + json.dumps(tail)[1:]
    return Response(200, text.encode())


def _rows(sim: Host, vault_ids: list[str], scope: set[str], since: int, as_of: int) -> list[str]:
    estate = sim.estate
    lo = max(since, as_of - to_ticks(RETENTION_SECONDS))
    rows: list[tuple[str, str]] = []
    for vault_id in vault_ids:
        parts = _VAULT_PARTS.fullmatch(vault_id)
        vault = estate.find_vault(*parts.groups()) if parts else None
        if vault is None or vault.subscription_id.lower() not in scope:
            continue  # Resource Graph returns what exists in scope; an unknown id is no error
        # A listed job's text is {"id":…,"name":…,"type":…,"properties":{…}}: the row is the same
        # text with the type lowercased and two columns after it. Spliced, not parsed and dumped
        # again: a cold start's query is tens of thousands of rows.
        columns = json.dumps({"subscriptionId": vault.subscription_id, "resourceGroup": vault.resource_group})
        replacement = f'"type":"{_ROW_TYPE}",{columns[1:-1]},"properties":'
        for text in estate.list_json(vault, estate.window(vault, lo, as_of, as_of), as_of):
            head, found, tail = text.partition(_LISTED_TYPE)
            if found:
                row = head + replacement + tail
            else:  # the list shape changed: take the slow, sure way
                row = _row_from_listed(text, vault.subscription_id, vault.resource_group)
            rows.append((row[7 : row.index('"', 7)] if row.startswith('{"id":"') else row, row))
    rows.sort()
    return [text for _, text in rows]


def _row_from_listed(text: str, subscription_id: str, resource_group: str) -> str:
    job = json.loads(text)
    row = {"id": job["id"], "name": job["name"], "type": str(job["type"]).lower(), "subscriptionId": subscription_id,
           "resourceGroup": resource_group, "properties": job["properties"]}
    return json.dumps(row, separators=(",", ":"))


def _token(as_of: int, offset: int, fingerprint: int) -> str:
    return base64.b64encode(f"{as_of}:{offset}:{fingerprint}".encode()).decode()


def _read_token(token: object, fingerprint: int) -> tuple[int, int]:
    try:
        as_of, offset, owner = (int(part) for part in base64.b64decode(str(token), validate=True).decode().split(":"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadQueryError("the $skipToken is invalid") from None
    if owner != fingerprint or offset < 0:
        raise BadQueryError("the $skipToken does not belong to this query")
    return as_of, offset


ROUTES: list[Route] = [
    route("POST", r"/providers/Microsoft\.ResourceGraph/resources/?", "resource_graph", query),
]
