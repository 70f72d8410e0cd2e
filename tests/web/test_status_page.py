"""The status page at `/`: vault states, items needing attention worst first, escaping, caching."""

from __future__ import annotations

from exporter.exposition.publisher import Publisher
from exporter.model import BACKUP_VAULT, VaultInfo, VaultRef
from exporter.parsing.protected_items import ProtectedItem
from exporter.store.inventory_store import InventorySnapshot, VaultInventory
from exporter.store.job_store import Store, VaultPoll
from exporter.web.server import ExporterHTTPServer
from exporter.web.status_page import FAILED, OVERDUE, STOPPED, StatusPage, problems_of
from tests.serving import get
from tests.support import job

NOW = 1_763_700_000.0
HOSTILE = "<script>alert(1)</script>"
SUB = "00000000-0000-0000-0000-000000000000"
GOOD = VaultRef(SUB, "rg", "vault-good")
EVIL = VaultRef(SUB, "rg", HOSTILE)
BV = VaultRef(SUB, "rg", "bv-never", BACKUP_VAULT)


def estate_store() -> Store:
    """vault-good: one item failing, one overdue, one fine; the hostile vault failing; a backup
    vault never polled."""
    store = Store(lookback=30 * 86400, clock=lambda: NOW)
    store.set_vaults([VaultInfo(GOOD), VaultInfo(EVIL), VaultInfo(BV)], {})
    store.apply(GOOD, [
        job("j1", "Completed", start=NOW - 7200, item="vm-failing"),
        job("j2", "Failed", start=NOW - 3600, item="vm-failing", error_code="UserErrorVmNotFound"),
        job("j3", "Completed", start=NOW - 3 * 86400, item="vm-overdue"),
        job("j4", "Completed", start=NOW - 3600, item="vm-fine"),
        job("j5", "Failed", start=NOW - 3600, item=HOSTILE),
    ])
    store.record(VaultPoll(GOOD, ok=True, duration=1.25, window_end=NOW))
    store.record(VaultPoll(EVIL, ok=False, duration=0.5, window_end=None, error=f"list_jobs: HTTP 403 {HOSTILE}"))
    return store


def stopped_inventory() -> InventorySnapshot:
    item = ProtectedItem("vm-stopped", "AzureIaasVM", "Microsoft.Compute/virtualMachines", "VM", "ProtectionStopped")
    return InventorySnapshot(NOW, (VaultInventory(GOOD, polled=True, up=True, items=(item,)),))


def test_problems_are_failed_overdue_and_stopped_worst_first() -> None:
    store = estate_store()
    problems = problems_of(store.snapshot(), stopped_inventory())
    ordered = sorted(problems, key=lambda p: p.sort_key)
    assert [(p.item, p.reasons) for p in ordered] == [
        (HOSTILE, (FAILED,)),  # never succeeded: worse than one that did two hours ago
        ("vm-failing", (FAILED,)),
        ("vm-stopped", (STOPPED,)),
        ("vm-overdue", (OVERDUE,)),
    ]
    assert "UserErrorVmNotFound" in ordered[1].detail
    assert "vm-fine" not in {p.item for p in problems}


def test_a_weekly_vault_is_overdue_only_after_8_days() -> None:
    store = Store(lookback=30 * 86400, clock=lambda: NOW)
    store.set_vaults([VaultInfo(GOOD, tags=(("backup_schedule", "weekly"),))], {})
    store.apply(GOOD, [job("a", start=NOW - 3 * 86400, item="weekly-3d"),
                       job("b", start=NOW - 9 * 86400, item="weekly-9d")])
    assert [p.item for p in problems_of(store.snapshot(), None)] == ["weekly-9d"]


def test_page_shows_states_and_problems_and_escapes_azure_names(
    server: ExporterHTTPServer, publisher: Publisher
) -> None:
    publisher.publish(estate_store().snapshot())
    publisher.publish_inventory(stopped_inventory())
    response = get(server, "/")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert "script-src" not in (csp := response.getheader("Content-Security-Policy", ""))
    assert csp.startswith("default-src 'none'")
    page = response.read().decode()
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "failing</span>: list_jobs: HTTP 403 &lt;script&gt;" in page
    for shown in ("never polled", "backup_vault", "1.2 s"):
        assert shown in page
    # the failing vault: polled just now (0.5 s), never successfully
    assert "&lt;/script&gt;</td><td>0 s ago</td><td>0.5 s</td><td>never</td></tr>" in page
    for name in ("vm-failing", "vm-overdue", "vm-stopped", FAILED, OVERDUE, STOPPED):
        assert name in page
    assert page.index("vm-failing") < page.index("vm-stopped") < page.index("vm-overdue")
    for link in ("href='/metrics'", "href='/-/healthy'", "Documentation</a>"):
        assert link in page


def test_cold_start_shows_progress(server: ExporterHTTPServer, publisher: Publisher) -> None:
    store = Store(lookback=86400, clock=lambda: NOW)
    store.set_vaults([VaultInfo(GOOD), VaultInfo(BV)], {})
    store.apply(GOOD, [job("a", item="x"), job("b", item="y"), job("c", "InProgress", item="z")])
    store.record(VaultPoll(GOOD, ok=True, duration=0.1, window_end=NOW))
    publisher.publish(store.snapshot())
    page = get(server, "/").read().decode()
    assert "Starting:</strong> 1 of 2 vaults polled, 2 finished jobs read" in page
    store.record(VaultPoll(BV, ok=True, duration=0.1, window_end=NOW))
    publisher.publish(store.snapshot())
    assert "Starting" not in get(server, "/").read().decode()


def test_page_is_built_once_per_publish_not_per_request(publisher: Publisher) -> None:
    page = StatusPage()
    publisher.publish(estate_store().snapshot())
    first = publisher.current
    bodies = [page.body(first, now=first.rendered_at + 5) for _ in range(3)]
    assert page.renders == 1
    assert b"Published 5 s ago" in bodies[0]
    assert page.body(first, now=first.rendered_at + 600).count(b"Published 10 min ago") == 1
    publisher.publish(estate_store().snapshot())
    page.body(publisher.current)
    assert page.renders == 2


def test_before_any_poll_the_page_says_so(server: ExporterHTTPServer) -> None:
    page = get(server, "/").read().decode()
    assert "no vault listed yet" in page
