"""What the simulated estate should look like: the one knob set tests, demo and bench turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class EstateSpec:
    """How many subscriptions, vaults and items, their schedule and outcomes. The same spec and
    clock give the same estate, byte for byte. Most items are VMs; one in six is a SQL database
    (half of them also ship log backups), one in twelve a file share. Each item runs one
    scheduled backup per period."""

    subscriptions: int = 2
    vaults_per_subscription: int = 2
    items_per_vault: int = 12
    period_seconds: float = 86400.0  # one scheduled backup per item per period
    duration_range: tuple[float, float] = (300.0, 3600.0)  # job duration bounds, seconds
    failure_ratio: float = 0.08
    warning_ratio: float = 0.08
    restore_ratio: float = 0.02  # extra Restore jobs, per item and period
    page_size: int = 50  # list page size
    seed: int = 1
    failing_items: int = 0  # first vault: items whose backups of the last 3 days all failed
    deletion_jobs: int = 0  # first vault: items that got a DeleteBackupData job in the last period
    # First vault: extra protected items with no jobs at all (protection configured, never backed
    # up: IRPending). They appear in the protected-item list only, never in a job list.
    never_backed_up_items: int = 0
    # SQL databases that ship log backups do so every this many minutes (their policy says so);
    # 0: once per period, like their full backups.
    log_backup_minutes: float = 0.0
    # First vault: the first N databases that ship logs stopped doing so BROKEN_LOG_SECONDS before
    # the clock at construction, while their full backups go on (a broken log chain).
    broken_log_chains: int = 0
    epoch: float = 1767225600.0  # 2026-01-01T00:00:00Z; job k starts at epoch + offset(item) + k*period
    history_seconds: float = 30 * 86400.0  # no jobs before now - history_seconds
    # Data Protection backup vaults (disks, blobs, PostgreSQL, AKS), items_per_vault backup
    # instances each. Listed oldest first as Azure does; newest first only to test that path.
    backup_vaults_per_subscription: int = 0
    backup_jobs_newest_first: bool = False
    # How far back a backup vault's job list reaches; None: history_seconds. Azure's was seen
    # reaching back about two weeks (recorded traffic: 13.9 days, older jobs only in Resource Graph).
    backup_history_seconds: float | None = None
    # The vault posture alerts' cases (simulator.posture): soft delete off, immutability Locked and
    # Disabled, a Degraded vault, soft-deleted items two days from their purge. Off: every vault
    # hardened and Available.
    posture_cases: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.subscriptions < 1 or self.vaults_per_subscription < 1 or self.items_per_vault < 1:
            problems.append("subscriptions, vaults_per_subscription and items_per_vault must be >= 1")
        if self.items_per_vault > 0xFFFF:
            problems.append("items_per_vault must fit in a job id (<= 65535)")
        if self.period_seconds <= 0 or self.history_seconds <= 0 or self.page_size < 1:
            problems.append("period_seconds, history_seconds and page_size must be positive")
        if self.backup_history_seconds is not None and not 0 < self.backup_history_seconds <= self.history_seconds:
            problems.append("backup_history_seconds must be positive and at most history_seconds")
        low, high = self.duration_range
        if not 0 < low <= high:
            problems.append("duration_range must be (low, high) with 0 < low <= high")
        ratios = (self.failure_ratio, self.warning_ratio, self.restore_ratio)
        if any(not 0.0 <= r <= 1.0 for r in ratios) or self.failure_ratio + self.warning_ratio > 1.0:
            problems.append("ratios must lie in [0, 1] and failure_ratio + warning_ratio <= 1")
        counts = (self.failing_items, self.deletion_jobs, self.never_backed_up_items,
                  self.backup_vaults_per_subscription)
        if min(counts) < 0:
            problems.append(
                "failing_items, deletion_jobs, never_backed_up_items and backup_vaults_per_subscription must be >= 0"
            )
        if self.failing_items + self.deletion_jobs > self.items_per_vault:
            problems.append("failing_items + deletion_jobs must not exceed items_per_vault")
        if problems:
            raise ValueError("invalid EstateSpec: " + "; ".join(problems))


class JobFilter(NamedTuple):
    """The optional `$filter` clauses besides the time window (compared case-insensitively)."""

    status: str | None = None
    operation: str | None = None
    backup_management_type: str | None = None


NO_FILTER = JobFilter()
