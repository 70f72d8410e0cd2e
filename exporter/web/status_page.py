"""The page at `/`: per vault its state, and the items that need a person, worst first.

Built from the `Exposition` the poller published last (its job snapshot and inventory), once per
publish and cached: a request never reads the store nor waits on Azure. Every name on it is
Azure's (vaults, items, error messages) and is HTML-escaped; the page has no script and no
external asset, and is sent with a Content-Security-Policy that forbids both.
"""

from __future__ import annotations

import html
import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from exporter import __version__
from exporter.exposition.publisher import Exposition
from exporter.store.inventory_store import InventorySnapshot
from exporter.store.job_store import ItemView, Snapshot, VaultView

# The shipped alerts' limits (prometheus/alerts.yml, AzureBackupTooOld): 26 h for a daily schedule,
# 8 days for vaults tagged backup_schedule=weekly.
OVERDUE_SECONDS = 26 * 3600.0
WEEKLY_OVERDUE_SECONDS = 8 * 86400.0
SCHEDULE_TAG, WEEKLY = "backup_schedule", "weekly"
# protectionState values (bms.json ProtectionState) under which no backup runs any more.
STOPPED_STATES = frozenset({"ProtectionStopped", "ProtectionPaused", "BackupsSuspended"})
# A page of 10,000 failing items helps nobody and costs a render; the worst are enough.
MAX_PROBLEM_ROWS = 500
DOCS_URL = "https://github.com/azure-backup-exporter/azure-backup-exporter#readme"
CONTENT_TYPE = "text/html; charset=utf-8"
# No script, no external anything: inline CSS only (defence in depth behind the escaping).
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
# Problems, worst first.
FAILED, STOPPED, OVERDUE = "latest job failed", "protection stopped", "overdue"
_RANK = {FAILED: 0, STOPPED: 1, OVERDUE: 2}
_CSS = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f2f2f2}.up{color:#17692b}.failing{color:#b00020;font-weight:600}"
    ".never{color:#8a6d00}.muted{color:#666}.ok{color:#17692b}"
)


@dataclass(frozen=True, slots=True)
class Problem:
    vault: tuple[str, str, str]
    management_type: str
    item: str
    operation: str
    reasons: tuple[str, ...]
    detail: str
    last_success: float | None

    @property
    def sort_key(self) -> tuple[int, int, float]:
        since = -math.inf if self.last_success is None else self.last_success
        return (-len(self.reasons), min(_RANK[r] for r in self.reasons), since)


class StatusPage:
    """The rendered page of the last exposition seen; rebuilt only when a new one is published."""

    def __init__(self, telemetry_path: str = "/metrics") -> None:
        self.telemetry_path = telemetry_path
        self._lock = threading.Lock()
        # The exposition's identity, not the object: holding it would keep a replaced rendering
        # (its gzip, maybe its plain text) alive until the next visit to the page.
        self._source: tuple[int, float] | None = None
        self._parts: tuple[bytes, bytes] = (b"", b"")
        self.renders = 0  # how many times a page was built (at most once per exposition)

    def body(self, exposition: Exposition, now: float | None = None) -> bytes:
        """The page; only the "published N s ago" line is made per request."""
        with self._lock:
            source = (id(exposition), exposition.rendered_at)
            if source != self._source:
                self._parts = render(exposition, self.telemetry_path)
                self._source = source
                self.renders += 1
            head, tail = self._parts
        age = max(0.0, (time.time() if now is None else now) - exposition.rendered_at)
        return head + _age(age).encode() + tail


def render(exposition: Exposition, telemetry_path: str) -> tuple[bytes, bytes]:
    """The page around its one per-request part (the published age): (before, after)."""
    snapshot = exposition.snapshot
    metrics = html.escape(telemetry_path, quote=True)
    head = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width'><title>Azure Backup Exporter</title>"
        f"<style>{_CSS}</style></head><body><h1>Azure Backup Exporter</h1>"
        f"<p><a href='{metrics}'>Metrics</a> · <a href='/-/healthy'>Health</a> · "
        f"<a href='/-/ready'>Ready</a> · <a href='{DOCS_URL}'>Documentation</a> · "
        f"version {html.escape(__version__)}</p><p class='muted'>Published "
    )
    parts = [f" ({_utc(exposition.rendered_at)}).</p>"]
    if snapshot is None:
        parts.append("<p class='never'>Starting: no vault listed yet.</p>")
    else:
        parts.extend(_progress(snapshot))
        parts.extend(_vault_table(snapshot))
        parts.extend(_problem_table(snapshot, exposition.inventory))
    parts.append("</body></html>")
    return head.encode(), "".join(parts).encode()


def _progress(snapshot: Snapshot) -> Iterator[str]:
    if snapshot.ready:
        return
    polled = sum(1 for v in snapshot.vaults if v.polled)
    jobs = sum(count for _, view in snapshot.items for _, count in view.counts)
    yield (f"<p class='never'><strong>Starting:</strong> {polled} of {len(snapshot.vaults)} vaults polled, "
           f"{jobs} finished jobs read so far.</p>")


def _vault_table(snapshot: Snapshot) -> Iterator[str]:
    yield f"<h2>Vaults ({len(snapshot.vaults)})</h2>"
    yield ("<table><tr><th>Subscription</th><th>Resource group</th><th>Vault</th><th>Kind</th>"
           "<th>State</th><th>Last poll</th><th>Poll duration</th><th>Last successful poll</th></tr>")
    for vault in snapshot.vaults:
        cells = [*vault.info.ref.labels, vault.info.ref.kind]
        row = "".join(f"<td>{_e(c)}</td>" for c in cells)
        took = "" if vault.poll_duration is None else f"{vault.poll_duration:.1f} s"
        ages = (_ago(snapshot.taken_at, vault.last_poll), took, _ago(snapshot.taken_at, vault.last_success))
        yield f"<tr>{row}{_state_cell(vault)}" + "".join(f"<td>{a}</td>" for a in ages) + "</tr>"
    yield "</table>"


def _state_cell(vault: VaultView) -> str:
    if not vault.polled:
        return "<td class='never'>never polled</td>"
    if vault.up:
        return "<td class='up'>up</td>"
    reason = f": {_e(vault.last_error)}" if vault.last_error else ""
    return f"<td><span class='failing'>failing</span>{reason}</td>"


def _problem_table(snapshot: Snapshot, inventory: InventorySnapshot | None) -> Iterator[str]:
    problems = sorted(problems_of(snapshot, inventory), key=lambda p: p.sort_key)
    yield f"<h2>Items needing attention ({len(problems)})</h2>"
    if not problems:
        yield "<p class='ok'>None: every latest job succeeded, no backup is overdue or stopped.</p>"
        return
    yield ("<table><tr><th>Problem</th><th>Vault</th><th>Item</th><th>Type</th><th>Operation</th>"
           "<th>Last success</th><th>Detail</th></tr>")
    for problem in problems[:MAX_PROBLEM_ROWS]:
        # Resource group/vault shown, the subscription as a tooltip: the column stays readable.
        vault = f"<td title='{_e('/'.join(problem.vault))}'>{_e(problem.vault[1])}/{_e(problem.vault[2])}</td>"
        cells = (problem.item, problem.management_type, problem.operation,
                 _ago(snapshot.taken_at, problem.last_success), problem.detail)
        rest = "".join(f"<td>{_e(c)}</td>" for c in cells)
        yield f"<tr><td>{_e(', '.join(problem.reasons))}</td>{vault}{rest}</tr>"
    yield "</table>"
    if len(problems) > MAX_PROBLEM_ROWS:
        yield f"<p class='muted'>… and {len(problems) - MAX_PROBLEM_ROWS} more (see the metrics).</p>"


def problems_of(snapshot: Snapshot, inventory: InventorySnapshot | None) -> list[Problem]:
    """Items whose latest finished job failed, whose backups are overdue, or whose protection stopped."""
    limits = {v.info.ref.labels: _overdue_limit(v.info.tags) for v in snapshot.vaults}
    found: dict[tuple[str, ...], Problem] = {}
    for key, view in snapshot.items:
        problem = _job_problem(key, view, snapshot.taken_at, limits.get(key[:3], OVERDUE_SECONDS))
        if problem is not None:
            found[key] = problem
    for vault in () if inventory is None else inventory.vaults:
        for item in vault.items:
            if item.protection_state in STOPPED_STATES:
                # Joined with the item's backup jobs (same labels, operation Backup) into one row.
                key = (*vault.ref.labels, item.backup_management_type, item.item, "Backup")
                found[key] = _stopped(found.get(key), key, item.protection_state, item.last_recovery_point)
    return list(found.values())


def _stopped(known: Problem | None, key: Sequence[str], state: str, last_point: float | None) -> Problem:
    detail = f"protectionState {state}"
    if known is None:
        return Problem((key[0], key[1], key[2]), key[3], key[4], key[5], (STOPPED,), detail, last_point)
    joined = f"{detail}; {known.detail}" if known.detail else detail
    return Problem(known.vault, known.management_type, known.item, known.operation, (*known.reasons, STOPPED),
                   joined, known.last_success)


def _job_problem(key: Sequence[str], view: ItemView, now: float, limit: float) -> Problem | None:
    reasons: list[str] = []
    details: list[str] = []
    finished = view.latest_finished
    if finished is not None and finished.status == "Failed":
        reasons.append(FAILED)
        error = " ".join(x for x in (finished.error_code, finished.error_title) if x)
        ended = finished.end_time if finished.end_time is not None else finished.start_time
        when = "" if ended is None else f"failed {_ago(now, ended)}"
        details.append(": ".join(x for x in (when, error) if x) or "failed")
    # Only backups have a schedule to fall behind (the alerts match operation=~"Backup.*").
    if key[5].startswith("Backup") and view.last_success is not None and now - view.last_success > limit:
        reasons.append(OVERDUE)
        details.append(f"no success for {_duration(now - view.last_success)} (limit {_duration(limit)})")
    if not reasons:
        return None
    return Problem((key[0], key[1], key[2]), key[3], key[4], key[5], tuple(reasons), "; ".join(details),
                   view.last_success)


def _overdue_limit(tags: Sequence[tuple[str, str]]) -> float:
    weekly = any(k.lower() == SCHEDULE_TAG and v.lower() == WEEKLY for k, v in tags)
    return WEEKLY_OVERDUE_SECONDS if weekly else OVERDUE_SECONDS


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _ago(now: float, then: float | None) -> str:
    return "never" if then is None else f"{_duration(now - then)} ago"


def _age(seconds: float) -> str:
    return f"{_duration(seconds)} ago"


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _duration(seconds: float) -> str:
    """60 s, 5 min, 3 h 20 min, 2 d 4 h: short enough for a table cell."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
