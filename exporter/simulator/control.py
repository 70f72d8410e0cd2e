"""The simulator's own control plane under /_sim/ (not ARM), for tests that run the exporter as
a subprocess: inject faults, read the recorded requests, set latency, revoke tokens."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from exporter.simulator.faults import Fault
from exporter.simulator.routing import CONTROL, Host, Request, Response, Route, json_response, route


def _json_body(request: Request) -> Any:
    return json.loads(request.body or b"null")


def _bad(message: str) -> Response:
    return json_response(400, {"error": message})


def list_faults(sim: Host, _request: Request, _match: re.Match[str]) -> Response:
    return json_response(200, [dataclasses.asdict(fault) for fault in sim.faults.active()])


def add_faults(sim: Host, request: Request, _match: re.Match[str]) -> Response:
    """Body: one fault object or a list of them, with Fault's field names."""
    try:
        payload = _json_body(request)
        faults = [Fault.from_json(item) for item in (payload if isinstance(payload, list) else [payload])]
    except (ValueError, TypeError) as error:  # JSONDecodeError and re.error are ValueErrors
        return _bad(str(error))
    for fault in faults:
        sim.faults.add(fault)
    return json_response(200, {"active": len(sim.faults.active())})


def clear_faults(sim: Host, _request: Request, _match: re.Match[str]) -> Response:
    sim.faults.clear()
    return json_response(200, {"active": 0})


def list_requests(sim: Host, _request: Request, _match: re.Match[str]) -> Response:
    return json_response(200, [dataclasses.asdict(recorded) for recorded in sim.requests()])


def reset_requests(sim: Host, _request: Request, _match: re.Match[str]) -> Response:
    sim.reset_requests()
    return json_response(200, {"recorded": 0})


def set_latency(sim: Host, request: Request, _match: re.Match[str]) -> Response:
    """Body: {"latency": seconds} or a bare number."""
    try:
        payload = _json_body(request)
    except ValueError as error:
        return _bad(str(error))
    latency = payload.get("latency") if isinstance(payload, dict) else payload
    if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
        return _bad("latency must be a number of seconds >= 0")
    sim.latency = float(latency)
    return json_response(200, {"latency": sim.latency})


def revoke_tokens(sim: Host, _request: Request, _match: re.Match[str]) -> Response:
    sim.revoke_tokens()
    return json_response(200, {"revoked": True})


def list_vaults(sim: Host, _request: Request, _match: re.Match[str]) -> Response:
    vaults = [
        {
            "subscription_id": v.subscription_id,
            "resource_group": v.resource_group,
            "vault": v.name,
            "location": v.location,
            "tags": v.tags,
        }
        for v in sim.estate.vaults
    ]
    return json_response(200, vaults)


ROUTES: list[Route] = [
    route("GET", r"/_sim/faults", "control", list_faults, CONTROL),
    route("POST", r"/_sim/faults", "control", add_faults, CONTROL),
    route("DELETE", r"/_sim/faults", "control", clear_faults, CONTROL),
    route("GET", r"/_sim/requests", "control", list_requests, CONTROL),
    route("DELETE", r"/_sim/requests", "control", reset_requests, CONTROL),
    route("POST", r"/_sim/latency", "control", set_latency, CONTROL),
    route("POST", r"/_sim/tokens/revoke", "control", revoke_tokens, CONTROL),
    route("GET", r"/_sim/vaults", "control", list_vaults, CONTROL),
]
