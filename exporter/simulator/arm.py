"""The ARM routes the exporter reads: subscriptions, vaults, backup jobs (list and get).

One function per route; ROUTES at the bottom is the table server.py dispatches on. New
resource types (Data Protection vaults, Resource Graph) add a function and a row.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, unquote

from exporter.simulator import wire
from exporter.simulator.resources import Vault
from exporter.simulator.routing import Request, Response, Route, arm_error, json_response, route
from exporter.simulator.schedule import to_ticks
from exporter.simulator.spec import NO_FILTER, JobFilter

if TYPE_CHECKING:
    from exporter.simulator.server import Simulator

# Recorded nextLinks of backupJobs carry an old api-version and a lowercase %24skiptoken
# (rsv_ListJobsWithStartTimeAndEndTimeFilters): clients must put their own version back.
NEXT_LINK_API_VERSION = "2017-07-01"
_CLAUSE = re.compile(r"\s*(\w+)\s+eq\s+'([^']*)'\s*", re.IGNORECASE)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
# '2026-11-20 01:05:00 PM'. The spec's own example says '2016-01-01 00:00:00 AM', so hour 0 passes.
_FILTER_TIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{2}):(\d{2})(?: ?([AP]M))?", re.IGNORECASE)
_FILTER_FIELDS = {
    "starttime": "start",
    "endtime": "end",
    "status": "status",
    "operation": "operation",
    "backupmanagementtype": "backup_management_type",
}


class BadRequestError(ValueError):
    """A request the real API would refuse with 400; the message goes in the ARM error body."""


@dataclass(frozen=True)
class JobQuery:
    start: int | None  # ticks
    end: int | None
    job_filter: JobFilter


def _filter_time(text: str) -> int:
    match = _FILTER_TIME.fullmatch(text.strip())
    if match is None:
        raise BadRequestError(f"time '{text}' is not in the format 'yyyy-MM-dd hh:mm:ss AM'")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    meridiem = (match[7] or "").upper()
    if meridiem and hour > 12:
        raise BadRequestError(f"time '{text}': hour {hour} with {meridiem}")
    if meridiem:
        hour = hour % 12 + (12 if meridiem == "PM" else 0)
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as error:
        raise BadRequestError(f"time '{text}': {error}") from None
    return to_ticks(moment.timestamp())


def parse_job_filter(text: str) -> JobQuery:
    """`startTime eq '…' and endTime eq '…' [and status eq '…'] …` (times in UTC)."""
    values: dict[str, str] = {}
    for clause in _AND.split(text.strip()):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise BadRequestError(f"cannot parse filter clause '{clause}'")
        name = _FILTER_FIELDS.get(match[1].lower())
        if name is None:
            raise BadRequestError(f"unsupported filter field '{match[1]}'")
        if name in values:
            raise BadRequestError(f"filter field '{match[1]}' given twice")
        values[name] = match[2]
    start = _filter_time(values["start"]) if "start" in values else None
    end = _filter_time(values["end"]) if "end" in values else None
    if start is not None and end is not None and start > end:
        raise BadRequestError("startTime is later than endTime")
    job_filter = JobFilter(values.get("status"), values.get("operation"), values.get("backup_management_type"))
    return JobQuery(start, end, job_filter)


def _skiptoken(*fields: int) -> str:
    # Standard base64 so that the token carries '+', '/' and '=': a client that decodes and
    # re-encodes the nextLink carelessly breaks it, as it would break Azure's.
    return base64.b64encode(":".join(str(f) for f in fields).encode()).decode()


def _read_skiptoken(token: str, count: int) -> list[int]:
    try:
        fields = [int(part) for part in base64.b64decode(token, validate=True).decode().split(":")]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequestError("the skip token is invalid") from None
    if len(fields) != count or min(fields) < 0:
        raise BadRequestError("the skip token is invalid")
    return fields


def _escape(value: str) -> str:
    # .NET's UrlEncode: '+' for spaces and lowercase hex, as in the recorded nextLink.
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), quote_plus(value, safe=""))


def _page(sim: Simulator, request: Request, texts: list[str], link_query: str | None) -> Response:
    body = '{"value":[' + ",".join(texts) + "]"
    if link_query is not None:
        body += ',"nextLink":' + json.dumps(f"{sim.url}{request.path}?{link_query}")
    return Response(200, (body + "}").encode())


def _offset_paging(sim: Simulator, request: Request, bodies: Sequence[dict[str, Any]]) -> Response:
    size = sim.estate.spec.page_size
    token = request.query.get("$skiptoken")
    try:
        offset = _read_skiptoken(token, 1)[0] if token else 0
    except BadRequestError as error:
        return arm_error(400, "InvalidSkipToken", str(error))
    texts = [json.dumps(body, separators=(",", ":")) for body in bodies[offset : offset + size]]
    more = offset + size < len(bodies)
    api_version = _escape(request.query["api-version"])
    link = f"api-version={api_version}&%24skiptoken={_escape(_skiptoken(offset + size))}" if more else None
    return _page(sim, request, texts, link)


def list_subscriptions(sim: Simulator, request: Request, _match: re.Match[str]) -> Response:
    return _offset_paging(sim, request, [wire.subscription_body(s) for s in sim.estate.subscriptions])


def _subscription_missing(sim: Simulator, subscription_id: str) -> Response | None:
    if sim.estate.subscription(subscription_id) is None:
        return arm_error(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")
    return None


def list_vaults(sim: Simulator, request: Request, match: re.Match[str]) -> Response:
    subscription_id = unquote(match["sub"])
    missing = _subscription_missing(sim, subscription_id)
    if missing is not None:
        return missing
    return _offset_paging(sim, request, [wire.vault_body(v) for v in sim.estate.vaults_in(subscription_id)])


def _vault_or_404(sim: Simulator, match: re.Match[str]) -> Vault | Response:
    subscription_id, group, name = unquote(match["sub"]), unquote(match["rg"]), unquote(match["vault"])
    missing = _subscription_missing(sim, subscription_id)
    if missing is not None:
        return missing
    vault = sim.estate.find_vault(subscription_id, group, name)
    if vault is None:
        message = (
            f"The Resource 'Microsoft.RecoveryServices/vaults/{name}' under resource group '{group}' "
            "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        )
        return arm_error(404, "ResourceNotFound", message)
    return vault


def list_jobs(sim: Simulator, request: Request, match: re.Match[str]) -> Response:
    vault = _vault_or_404(sim, match)
    if isinstance(vault, Response):
        return vault
    estate = sim.estate
    filter_text = request.query.get("$filter")
    # The skip token pins the instant of the first page, so a listing stays one consistent
    # snapshot while the clock moves, and the window's sorted keys stay cached.
    fingerprint = zlib.crc32(f"{vault.index}|{filter_text}".encode())
    token = request.query.get("$skiptoken")
    try:
        query = parse_job_filter(filter_text) if filter_text else JobQuery(None, None, NO_FILTER)
        as_of, offset, token_fingerprint = _read_skiptoken(token, 3) if token else (estate.now(), 0, fingerprint)
        if token_fingerprint != fingerprint:
            raise BadRequestError("the skip token does not belong to this query")  # noqa: TRY301 - one 400 path
    except BadRequestError as error:
        return arm_error(400, "BMSUserErrorInvalidInput", f"Input provided for the call is invalid: {error}")
    lo = as_of - estate.history if query.start is None else query.start
    hi = as_of if query.end is None else query.end
    keys = estate.window(vault, lo, hi, as_of, query.job_filter)
    size = estate.spec.page_size
    dialect = wire.Dialect.of(request.query.get("api-version"))
    texts = estate.list_json(vault, keys[offset : offset + size], as_of, dialect)
    link = None
    if offset + size < len(keys):
        link = f"api-version={NEXT_LINK_API_VERSION}"
        if filter_text:
            link += f"&%24filter={_escape(filter_text)}"
        link += f"&%24skiptoken={_escape(_skiptoken(as_of, offset + size, fingerprint))}"
    return _page(sim, request, texts, link)


def get_job(sim: Simulator, request: Request, match: re.Match[str]) -> Response:
    vault = _vault_or_404(sim, match)
    if isinstance(vault, Response):
        return vault
    job_name = unquote(match["job"])
    found = sim.estate.find_job(vault, job_name, sim.estate.now())
    if found is None:
        return arm_error(404, "ResourceNotFound", f"The job '{job_name}' was not found in vault '{vault.name}'.")
    dialect = wire.Dialect.of(request.query.get("api-version"))
    return json_response(200, sim.estate.renderer.details(vault, *found, dialect))


_SUBSCRIPTION = r"/subscriptions/(?P<sub>[^/]+)"
_VAULTS = r"/providers/Microsoft\.RecoveryServices/vaults"
_VAULT = _SUBSCRIPTION + r"/resourceGroups/(?P<rg>[^/]+)" + _VAULTS + r"/(?P<vault>[^/]+)"

ROUTES: list[Route] = [
    route("GET", r"/subscriptions/?", "list_subscriptions", list_subscriptions),
    route("GET", _SUBSCRIPTION + _VAULTS + "/?", "list_vaults", list_vaults),
    route("GET", _VAULT + r"/backupJobs/?", "list_jobs", list_jobs),
    route("GET", _VAULT + r"/backupJobs/(?P<job>[^/]+)", "get_job", get_job),
]
