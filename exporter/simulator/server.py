"""The Simulator: answers each request from the route table, after applying faults and latency
and checking the bearer token, adds Azure's rate-limit headers, and records what it served."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

from exporter.simulator import arm, control, crr, dataprotection, identity, inventory, policies, posture, resourcegraph
from exporter.simulator.estate import Estate
from exporter.simulator.faults import Fault, FaultPlan
from exporter.simulator.httpd import SimulatorHTTPServer
from exporter.simulator.ratelimit import RateLimits
from exporter.simulator.routing import (
    ARM,
    CONTROL,
    IDENTITY,
    RecordedRequest,
    Request,
    Response,
    Route,
    arm_error,
    json_response,
    resolve,
)
from exporter.simulator.spec import EstateSpec

log = logging.getLogger(__name__)

ROUTES: list[Route] = [
    *identity.ROUTES,
    *arm.ROUTES,
    *crr.ROUTES,
    *dataprotection.ROUTES,
    *resourcegraph.ROUTES,
    *inventory.ROUTES,
    *posture.ROUTES,
    *policies.ROUTES,
    *control.ROUTES,
]
DEFAULT_ESTATE = EstateSpec()
_MAX_RECORDED = 50_000  # a demo runs for days: keep the newest requests only
_FAULT_ERRORS = {
    400: ("BadRequest", "The request is invalid."),
    401: ("InvalidAuthenticationToken", "The access token is invalid."),
    403: ("AuthorizationFailed", "The client does not have authorization to perform this action."),
    404: ("ResourceNotFound", "The resource was not found."),
    409: ("Conflict", "The request conflicts with the state of the resource."),
    429: ("SubscriptionRequestsThrottled", "Number of read requests exceeded the limit. Please try again later."),
    500: ("InternalServerError", "Encountered internal server error. Please try again later."),
    502: ("BadGateway", "The gateway did not receive a response in time."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please try again later."),
    504: ("GatewayTimeout", "The gateway did not receive a response within the specified time period."),
}


class Simulator:
    """Fake ARM + managed-identity endpoint on 127.0.0.1; see SPEC §9. Use as a context manager."""

    def __init__(
        self,
        estate: EstateSpec = DEFAULT_ESTATE,
        *,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.estate = Estate(estate, clock)
        self.clock = clock
        self.latency = latency  # seconds added to every ARM request; settable while running
        self.faults = FaultPlan()
        self.tokens = identity.TokenIssuer()
        self.identity_header = self.tokens.secret
        self.ratelimits = RateLimits()
        self.resource_graph = resourcegraph.ResourceGraph()  # its user quota; tests may lower it
        self._recorded: deque[RecordedRequest] = deque(maxlen=_MAX_RECORDED)
        self._record_lock = threading.Lock()
        self._address = (host, port)
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is None:
            self._server = SimulatorHTTPServer(self._address, self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="azure-simulator", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """ARM base URL for the exporter, e.g. http://127.0.0.1:40123."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def identity_endpoint(self) -> str:
        return f"{self.url}{identity.MSI_PATH}"

    def identity_env(self) -> dict[str, str]:
        """The environment that points azure-identity's ManagedIdentityCredential here."""
        return {"IDENTITY_ENDPOINT": self.identity_endpoint, "IDENTITY_HEADER": self.identity_header}

    # --- test controls -----------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def revoke_tokens(self) -> None:
        """Tokens issued so far get 401 from now on (forces the client to fetch a new one)."""
        self.tokens.revoke_all()

    def requests(self) -> list[RecordedRequest]:
        with self._record_lock:
            return list(self._recorded)

    def reset_requests(self) -> None:
        with self._record_lock:
            self._recorded.clear()

    def record(self, entry: RecordedRequest) -> None:
        with self._record_lock:
            self._recorded.append(entry)

    # --- one request -------------------------------------------------------------------------

    def answer(self, request: Request) -> tuple[str, Response | None]:
        """(api name, response); a None response means: reset the connection."""
        found, match, other_method = resolve(ROUTES, request.method, request.path)
        if found is not None:
            api, kind = found.api, found.kind
        elif other_method is not None:
            api, kind = other_method.api, other_method.kind
        else:
            on_control_plane = request.path.startswith("/_sim/")
            api, kind = ("control", CONTROL) if on_control_plane else ("unknown", ARM)
        fault = self._delay_and_fault(request, kind) if kind != CONTROL else None
        if fault is not None and (fault.reset or fault.answers):
            return api, None if fault.reset else _fault_response(fault, kind)
        if found is None or match is None:
            return api, _unrouted(request, kind, other_method)
        refused = self._refusal(request) if kind == ARM else None
        if refused is not None:
            return api, refused
        try:
            response = found.handler(self, request, match)
        except Exception:
            log.exception("simulator: %s %s failed", request.method, request.path)
            return api, arm_error(500, "InternalServerError", "The simulator failed on this request.")
        if kind == ARM:
            subscription = match.groupdict().get("sub")
            response.headers.update(self.ratelimits.spend(subscription, resource_provider=api != "list_subscriptions"))
        return api, response

    def _delay_and_fault(self, request: Request, kind: str) -> Fault | None:
        """Sleeps the configured latency (and the fault's), and takes the fault that applies, if any."""
        fault = self.faults.take(request.target, token_route=kind == IDENTITY)
        delay = (self.latency if kind == ARM else 0.0) + (fault.latency if fault else 0.0)
        if delay > 0:
            time.sleep(delay)
        return fault

    def _refusal(self, request: Request) -> Response | None:
        """ARM's answer to a request without a good bearer token or an api-version; None if fine."""
        refused = self.tokens.refuse(request.headers.get("authorization"))
        if refused is not None:
            return refused
        if not request.query.get("api-version"):
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        return None


def _unrouted(request: Request, kind: str, other_method: Route | None) -> Response:
    if other_method is not None:
        return arm_error(405, "MethodNotAllowed", f"The method {request.method} is not allowed here.")
    if kind == CONTROL:
        return json_response(404, {"error": f"no control route {request.path}"})
    return arm_error(404, "InvalidResourceType", f"No route for '{request.path}'.")


def _fault_response(fault: Fault, kind: str) -> Response:
    status = fault.status if fault.status is not None else 200
    if fault.body is not None:
        response = Response(status, fault.body.encode())
    elif kind == IDENTITY:
        response = json_response(status, {"statusCode": status, "message": "Injected fault."})
    else:
        code, message = _FAULT_ERRORS.get(status, ("InjectedFault", f"Injected HTTP {status}."))
        response = arm_error(status, code, message)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = f"{fault.retry_after:g}"
    return response
