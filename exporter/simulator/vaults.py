"""What the Recovery Services routes share (arm.py, inventory.py): the vault a path names, or
ARM's 404 for it, and ARM's paged lists with their skip tokens and nextLinks."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote_plus, unquote

from exporter.simulator.resources import Vault
from exporter.simulator.routing import Host, Request, Response, arm_error

SUBSCRIPTION_PATH = r"/subscriptions/(?P<sub>[^/]+)"
VAULTS_PATH = r"/providers/Microsoft\.RecoveryServices/vaults"
VAULT_PATH = SUBSCRIPTION_PATH + r"/resourceGroups/(?P<rg>[^/]+)" + VAULTS_PATH + r"/(?P<vault>[^/]+)"


# With EstateSpec.posture_cases, this Recovery Services vault has cross-region restore on (simulator.crr).
CRR_VAULT_INDEX = 1


def crr_enabled(sim: Host, vault: Vault) -> bool:
    """Whether the vault has cross-region restore on (`redundancySettings.crossRegionRestore`)."""
    return sim.estate.spec.posture_cases and vault.index == CRR_VAULT_INDEX


def redundancy_settings(sim: Host, vault: Vault) -> dict[str, str]:
    """The vault's `properties.redundancySettings`, in its GET and in the vaults list alike."""
    return {"crossRegionRestore": "Enabled" if crr_enabled(sim, vault) else "Disabled",
            "standardTierStorageRedundancy": "GeoRedundant"}


class BadRequestError(ValueError):
    """A request the real API would refuse with 400; the message goes in the ARM error body."""


def skiptoken(*fields: int) -> str:
    """A `$skiptoken` carrying `fields` (offsets, instants, fingerprints)."""
    # Standard base64 so that the token carries '+', '/' and '=': a client that decodes and
    # re-encodes the nextLink carelessly breaks it, as it would break Azure's.
    return base64.b64encode(":".join(str(f) for f in fields).encode()).decode()


def read_skiptoken(token: str, count: int) -> list[int]:
    """The `count` fields of a `$skiptoken`; BadRequestError when it is not one of ours."""
    try:
        fields = [int(part) for part in base64.b64decode(token, validate=True).decode().split(":")]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequestError("the skip token is invalid") from None
    if len(fields) != count or min(fields) < 0:
        raise BadRequestError("the skip token is invalid")
    return fields


def escape(value: str) -> str:
    """A query value as Azure writes it in a nextLink."""
    # .NET's UrlEncode: '+' for spaces and lowercase hex, as in the recorded nextLink.
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), quote_plus(value, safe=""))


def page_response(sim: Host, request: Request, texts: list[str], link_query: str | None) -> Response:
    """A list page of the JSON `texts`, with a nextLink to this path and `link_query` when given."""
    body = '{"value":[' + ",".join(texts) + "]"
    if link_query is not None:
        body += ',"nextLink":' + json.dumps(f"{sim.url}{request.path}?{link_query}")
    return Response(200, (body + "}").encode())


def offset_paging(sim: Host, request: Request, bodies: Sequence[dict[str, Any]]) -> Response:
    """The page of `bodies` the request's `$skiptoken` asks for (the first without one)."""
    size = sim.estate.spec.page_size
    token = request.query.get("$skiptoken")
    try:
        offset = read_skiptoken(token, 1)[0] if token else 0
    except BadRequestError as error:
        return arm_error(400, "InvalidSkipToken", str(error))
    texts = [json.dumps(body, separators=(",", ":")) for body in bodies[offset : offset + size]]
    more = offset + size < len(bodies)
    api_version = escape(request.query["api-version"])
    link = f"api-version={api_version}&%24skiptoken={escape(skiptoken(offset + size))}" if more else None
    return page_response(sim, request, texts, link)


def subscription_missing(sim: Host, subscription_id: str) -> Response | None:
    """ARM's 404 for a subscription the estate does not have; None when it has it."""
    if sim.estate.subscription(subscription_id) is None:
        return arm_error(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")
    return None


def vault_or_404(sim: Host, match: re.Match[str]) -> Vault | Response:
    """The Recovery Services vault the path names, or ARM's 404 for it (or for its subscription)."""
    subscription_id, group, name = unquote(match["sub"]), unquote(match["rg"]), unquote(match["vault"])
    missing = subscription_missing(sim, subscription_id)
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
