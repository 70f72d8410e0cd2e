"""`--config.check`: try once every Azure read the configuration needs, and say which role is missing.

Each read goes through the production client (`ArmClient`: same token, retries and throttling; a
403 is never retried there), so a read that works here works when polling. The table below names
the built-in role that grants each read (README, "Azure permissions").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TextIO, TypeVar

from exporter.azure.arm import ArmClient, ArmError
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.credential import TokenError, TokenSource, build_credential
from exporter.azure.dataprotection import DataProtectionApi
from exporter.azure.pacing import Pacer
from exporter.azure.regions import secondary_region
from exporter.azure.resourcegraph import ResourceGraphApi, jobs_query
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import Config
from exporter.model import BACKUP_VAULT, RECOVERY_SERVICES, VaultInfo, VaultRef

T = TypeVar("T")

# Read (the `api` label of azure_backup_exporter_api_requests_total) → (what it is, what grants it).
# Backup Reader includes Microsoft.RecoveryServices/Vaults/* reads and the Data Protection backup
# vault reads; listing subscriptions needs any role assignment on them (Azure RBAC built-in roles).
READS: dict[str, tuple[str, str]] = {
    "token": ("get a token", "a working identity (azure.auth, client id, secret or federated token)"),
    "list_subscriptions": ("list subscriptions", "any role on each subscription, e.g. Reader"),
    "list_vaults": ("list Recovery Services vaults", "Backup Reader (or Reader) on the subscription"),
    "list_backup_vaults": ("list backup vaults", "Backup Reader (or Reader) on the subscription"),
    "list_jobs": ("list jobs", "Backup Reader on the vault"),
    "get_job": ("job details", "Backup Reader on the vault"),
    "list_protected_items": ("protected items", "Backup Reader on the vault"),
    "list_backup_jobs": ("list jobs", "Backup Reader on the backup vault"),
    "get_backup_job": ("job details", "Backup Reader on the backup vault"),
    "resource_graph": ("Resource Graph jobs query", "Reader (or Backup Reader) on the vaults"),
    # Microsoft's Azure Backup RBAC page lists these actions for cross-region restore, at the
    # subscription of the vault (Backup Operator, or a custom role).
    "list_crr_jobs": ("cross-region restore jobs", ("Microsoft.RecoveryServices/locations/backupCrrJobs/action "
                                                    "(a custom role, or Backup Operator) on the subscription")),
}
# Any well-formed job id: a 404 for it means the GET was allowed (RBAC answers 403 before the
# resource provider looks the job up), which is all a vault without jobs can show.
PROBE_JOB_ID = "00000000-0000-0000-0000-000000000000"
LIST_WINDOW_SECONDS = 86400.0


@dataclass(frozen=True, slots=True)
class Outcome:
    scope: str  # a vault, a subscription, or "tenant"
    read: str  # a key of READS
    status: int | None  # HTTP status of the failure; None when ok or no answer
    error: str = ""  # "" when the read worked

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def verdict(self) -> str:
        if self.ok:
            return "ok"
        if self.status == 403:
            # Azure's message names the action refused (e.g. Microsoft.RecoveryServices/vaults/backupJobs/read).
            return f"403: needs {READS[self.read][1]} ({self.error})"
        return f"error: {self.error}"


def build_client(config: Config, telemetry: ApiTelemetry) -> tuple[ArmClient, TokenSource]:
    """The client exactly as exporter.service.App builds it for polling."""
    tokens = TokenSource(build_credential(config.azure), config.azure.scope, telemetry,
                         renew=lambda: build_credential(config.azure))
    collection = config.collection
    arm = ArmClient(config.azure.resource_manager_url, tokens, telemetry, timeout=collection.request_timeout,
                    max_in_flight=collection.concurrency, pacer=Pacer())
    return arm, tokens


def check_permissions(config: Config, out: TextIO, clock: Callable[[], float] = time.time) -> bool:
    """Try every read, print the table to `out`; True if every read worked."""
    arm, tokens = build_client(config, ApiTelemetry())
    try:
        outcomes = run_checks(config, arm, tokens, clock())
    finally:
        arm.close()
    out.write(format_table(outcomes))
    out.flush()
    return all(o.ok for o in outcomes)


def run_checks(config: Config, arm: ArmClient, tokens: TokenSource, now: float) -> list[Outcome]:
    try:
        tokens.token()
    except TokenError as exc:
        return [Outcome("azure", "token", None, str(exc))]
    outcomes: list[Outcome] = []
    found_vaults = _discover(config, arm, outcomes)
    vaults = sorted(found_vaults)
    checker = _VaultChecker(config, arm, now)
    with ThreadPoolExecutor(max_workers=max(1, config.collection.concurrency)) as pool:
        for found in pool.map(checker.check, vaults, [found_vaults[ref] for ref in vaults]):
            outcomes.extend(found)
    rs_vaults = [v for v in vaults if v.kind == RECOVERY_SERVICES]
    if config.collection.source == "resource_graph" and rs_vaults:
        outcomes.append(_resource_graph(arm, rs_vaults, now))
    return outcomes


def _discover(config: Config, arm: ArmClient, outcomes: list[Outcome]) -> dict[VaultRef, VaultInfo | None]:
    """The vaults the targets name or discovery finds (with what the listing said of them, when
    one did), recording each listing's outcome."""
    listers: dict[str, Callable[[str], list[VaultInfo]]] = {
        RECOVERY_SERVICES: RecoveryServicesApi(arm, config.collection.api_version).list_vaults,
        BACKUP_VAULT: DataProtectionApi(arm, config.collection.backup_vault_api_version).list_vaults,
    }
    discovering = [t for t in config.targets if t.is_discovery]
    subscriptions = sorted({t.subscription_id for t in discovering if t.subscription_id != "*"})
    if any(t.subscription_id == "*" for t in discovering):
        api = RecoveryServicesApi(arm, config.collection.api_version)
        found = _attempt("tenant", "list_subscriptions", api.list_subscriptions, outcomes)
        subscriptions = sorted({*subscriptions, *(found or [])})
    refs: dict[VaultRef, VaultInfo | None] = {}
    for target in config.targets:
        if not target.is_discovery:
            refs[VaultRef(target.subscription_id, target.resource_group or "", target.vault_name or "",
                          target.kinds[0])] = None
    for sub in subscriptions:
        wanted = [t for t in discovering if t.subscription_id in {"*", sub}]
        for kind in sorted({k for t in wanted for k in t.kinds}):
            read = "list_vaults" if kind == RECOVERY_SERVICES else "list_backup_vaults"
            infos = _attempt(f"subscription {sub}", read, partial(listers[kind], sub), outcomes) or []
            for info in infos:
                if any(kind in t.kinds and t.matches(info.ref.vault) for t in wanted):
                    refs[info.ref] = info
    return refs


def _attempt(scope: str, read: str, call: Callable[[], T], outcomes: list[Outcome]) -> T | None:
    try:
        result = call()
    except ArmError as exc:
        outcomes.append(Outcome(scope, read, exc.status, str(exc)))
        return None
    outcomes.append(Outcome(scope, read, None))
    return result


class _VaultChecker:
    """The per-vault reads a poll (and the inventory) makes, each once."""

    def __init__(self, config: Config, arm: ArmClient, now: float) -> None:
        self._collection = config.collection
        self._rs = RecoveryServicesApi(arm, config.collection.api_version)
        self._bv = DataProtectionApi(arm, config.collection.backup_vault_api_version)
        self._now = now

    def check(self, ref: VaultRef, info: VaultInfo | None = None) -> list[Outcome]:
        """`info`: what discovery listed of the vault; cross-region restore shows only there."""
        scope = f"{ref} ({ref.kind})"
        outcomes: list[Outcome] = []
        if ref.kind == BACKUP_VAULT:
            page = _attempt(scope, "list_backup_jobs", lambda: _first_page(self._bv.list_jobs(ref)), outcomes)
            if self._collection.job_details:
                outcomes.append(_details(scope, "get_backup_job", lambda j: self._bv.get_job(ref, j), page))
            return outcomes
        if self._collection.source != "resource_graph":  # Resource Graph replaces the job lists
            listing = self._rs.list_jobs(ref, self._now - LIST_WINDOW_SECONDS, self._now)
            page = _attempt(scope, "list_jobs", lambda: _first_page(listing), outcomes)
        else:
            page = []
        if self._collection.job_details:
            outcomes.append(_details(scope, "get_job", lambda j: self._rs.get_job(ref, j), page))
        if self._collection.inventory_interval > 0:
            _attempt(scope, "list_protected_items", lambda: _first_page(self._rs.list_protected_items(ref)), outcomes)
        region = secondary_region(info.location) if info is not None and info.cross_region_restore else None
        if self._collection.cross_region_restore_jobs and region is not None:
            crr = self._rs.list_crr_jobs(ref, region, self._now - LIST_WINDOW_SECONDS, self._now)
            _attempt(scope, "list_crr_jobs", lambda: _first_page(crr), outcomes)
        return outcomes


def _details(scope: str, read: str, get: Callable[[str], Any], page: list[Any] | None) -> Outcome:
    """GET one listed job, or a made-up id when none was listed (then 404 means allowed)."""
    listed = [e["name"] for e in page or () if isinstance(e, dict) and isinstance(e.get("name"), str)]
    job_id = listed[0] if listed else PROBE_JOB_ID
    try:
        get(job_id)
    except ArmError as exc:
        if exc.status == 404 and not listed:
            return Outcome(scope, read, None)
        return Outcome(scope, read, exc.status, str(exc))
    return Outcome(scope, read, None)


def _resource_graph(arm: ArmClient, vaults: list[VaultRef], now: float) -> Outcome:
    # The production query, for the last hour, first page only. Resource Graph filters out what the
    # identity may not read instead of refusing, so "ok" proves the query runs, not that every row shows.
    subscriptions = sorted({v.subscription_id for v in vaults})
    query = jobs_query([v.resource_id for v in vaults], now - 3600)
    outcomes: list[Outcome] = []
    _attempt("subscriptions " + ", ".join(subscriptions), "resource_graph",
             lambda: _first_page(ResourceGraphApi(arm).query(subscriptions, query)), outcomes)
    return outcomes[0]


def _first_page(pages: Iterable[list[Any]]) -> list[Any]:
    for page in pages:
        return page
    return []


def format_table(outcomes: list[Outcome]) -> str:
    """scope x read → ok / 403 with the role that grants it / other error, and a summary line."""
    rows = [("scope", "read", "result"), *((o.scope, READS[o.read][0], o.verdict) for o in outcomes)]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows]
    failed = sum(1 for o in outcomes if not o.ok)
    summary = f"all {len(outcomes)} reads work" if failed == 0 else f"{failed} of {len(outcomes)} reads failed"
    return "\n".join([*lines, "", summary, ""])
