"""The request/response types the routes speak, independent of the socket server, and `Host`:
what a route may use of the simulator that serves it (the Simulator in server.py, which imports
the routes; the routes never import it)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from exporter.simulator import wire
from exporter.simulator.estate import Estate
from exporter.simulator.faults import FaultPlan

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

ARM = "arm"  # needs a bearer token and an api-version; faults and latency apply
IDENTITY = "identity"  # the managed-identity token endpoint; faults apply when their path matches it
CONTROL = "control"  # the simulator's own /_sim/ plane; never faulted, never recorded as ARM


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # raw path and query, as sent
    path: str
    query: Mapping[str, str]  # decoded, first value of each key ("$filter", "api-version")
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    api: str  # route name: token, list_subscriptions, list_vaults, list_jobs, get_job, control, unknown
    status: int  # 0 when the connection was reset without a response
    time: float  # wall clock when the answer was ready (just before it was sent)
    user_agent: str = ""
    target: str = ""  # path and query byte for byte as sent (escapes in their case)

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":")).encode(), headers or {})


def arm_error(status: int, code: str, message: str) -> Response:
    return json_response(status, wire.arm_error(code, message))


class TokenBook(Protocol):
    """The managed-identity endpoint's tokens (identity.TokenIssuer)."""

    @property
    def client_id(self) -> str: ...

    def issue(self) -> tuple[str, int]: ...


class GraphState(Protocol):
    """Resource Graph's user quota and served results (resourcegraph.ResourceGraph)."""

    def spend(self) -> tuple[bool, dict[str, str]]: ...

    def rows(self, key: tuple[int, int], compute: Callable[[], list[str]]) -> list[str]: ...


class Host(Protocol):
    """What a route handler may use of the simulator serving it."""

    latency: float  # seconds added to every ARM request; the control plane sets it

    @property
    def estate(self) -> Estate: ...
    @property
    def faults(self) -> FaultPlan: ...
    @property
    def identity_header(self) -> str: ...
    @property
    def tokens(self) -> TokenBook: ...
    @property
    def resource_graph(self) -> GraphState: ...
    @property
    def url(self) -> str: ...

    def requests(self) -> list[RecordedRequest]: ...

    def reset_requests(self) -> None: ...

    def revoke_tokens(self) -> None: ...


Handler = Callable[[Host, Request, re.Match[str]], Response]


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    api: str  # the name recorded for each request (and the exporter's `api` label)
    handler: Handler
    kind: str  # ARM, IDENTITY or CONTROL


def route(method: str, pattern: str, api: str, handler: Handler, kind: str = ARM) -> Route:
    # ARM paths are case-insensitive (samples show both /subscriptions and /Subscriptions).
    return Route(method, re.compile(pattern, re.IGNORECASE), api, handler, kind)


def resolve(routes: list[Route], method: str, path: str) -> tuple[Route | None, re.Match[str] | None, Route | None]:
    """(route, match) for the request, or (None, None, a route with this path but another method)."""
    other_method = None
    for candidate in routes:
        match = candidate.pattern.fullmatch(path)
        if match is None:
            continue
        if candidate.method == method:
            return candidate, match, None
        other_method = candidate
    return None, None, other_method
