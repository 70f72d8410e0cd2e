"""The ARM routes the exporter reads: subscriptions, vaults, backup jobs (list and get).

One function per route; ROUTES at the bottom is the table server.py dispatches on. New
resource types (Data Protection vaults, Resource Graph) add a function and a row.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from exporter.simulator import wire
from exporter.simulator.routing import Host, Request, Response, Route, arm_error, json_response, route
from exporter.simulator.schedule import to_ticks
from exporter.simulator.spec import NO_FILTER, JobFilter
from exporter.simulator.vaults import (
    SUBSCRIPTION_PATH,
    VAULT_PATH,
    VAULTS_PATH,
    BadRequestError,
    escape,
    offset_paging,
    page_response,
    read_skiptoken,
    redundancy_settings,
    skiptoken,
    subscription_missing,
    vault_or_404,
)

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


@dataclass(frozen=True)
class JobQuery:
    start: int | None  # ticks
    end: int | None
    job_filter: JobFilter


def job_list_link(filter_text: str | None, token: str) -> str:
    """The query of a job list's nextLink: Azure's old api-version, the filter again, the skip token."""
    link = f"api-version={NEXT_LINK_API_VERSION}"
    if filter_text:
        link += f"&%24filter={escape(filter_text)}"
    return link + f"&%24skiptoken={escape(token)}"


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


def list_subscriptions(sim: Host, request: Request, _match: re.Match[str]) -> Response:
    return offset_paging(sim, request, [wire.subscription_body(s) for s in sim.estate.subscriptions])


def list_vaults(sim: Host, request: Request, match: re.Match[str]) -> Response:
    subscription_id = unquote(match["sub"])
    missing = subscription_missing(sim, subscription_id)
    if missing is not None:
        return missing
    bodies = [wire.vault_body(v) for v in sim.estate.vaults_in(subscription_id)]
    for vault, body in zip(sim.estate.vaults_in(subscription_id), bodies, strict=True):
        # A list entry is the whole Vault resource: cross-region restore shows here as in its GET.
        body["properties"]["redundancySettings"] = redundancy_settings(sim, vault)
    return offset_paging(sim, request, bodies)


def list_jobs(sim: Host, request: Request, match: re.Match[str]) -> Response:
    vault = vault_or_404(sim, match)
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
        as_of, offset, token_fingerprint = read_skiptoken(token, 3) if token else (estate.now(), 0, fingerprint)
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
        link = job_list_link(filter_text, skiptoken(as_of, offset + size, fingerprint))
    return page_response(sim, request, texts, link)


def get_job(sim: Host, request: Request, match: re.Match[str]) -> Response:
    vault = vault_or_404(sim, match)
    if isinstance(vault, Response):
        return vault
    job_name = unquote(match["job"])
    found = sim.estate.find_job(vault, job_name, sim.estate.now())
    if found is None:
        return arm_error(404, "ResourceNotFound", f"The job '{job_name}' was not found in vault '{vault.name}'.")
    dialect = wire.Dialect.of(request.query.get("api-version"))
    return json_response(200, sim.estate.renderer.details(vault, *found, dialect))


ROUTES: list[Route] = [
    route("GET", r"/subscriptions/?", "list_subscriptions", list_subscriptions),
    route("GET", SUBSCRIPTION_PATH + VAULTS_PATH + "/?", "list_vaults", list_vaults),
    route("GET", VAULT_PATH + r"/backupJobs/?", "list_jobs", list_jobs),
    route("GET", VAULT_PATH + r"/backupJobs/(?P<job>[^/]+)", "get_job", get_job),
]
