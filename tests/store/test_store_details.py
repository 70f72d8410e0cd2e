"""A finished job seen again in a later list (the window overlap) keeps what its details GET said."""

from __future__ import annotations

from exporter.model import VaultInfo
from exporter.store.job_store import Store
from tests.support import DAY, VAULT, ManualClock, job


def test_relisted_finished_job_keeps_its_details() -> None:
    store = Store(lookback=7 * DAY, clock=ManualClock())
    store.set_vaults([VaultInfo(VAULT)], {})
    listed = job("a", status="Failed")
    detailed = listed._replace(error_code="400094", error_title="UserErrorVmNotFound", size_bytes=5.0, has_details=True)
    store.apply(VAULT, [detailed])
    store.apply(VAULT, [listed])  # the next poll's window overlaps the previous one: listed again
    (_, view), = store.snapshot().items
    assert view.latest == detailed
    assert view.latest_finished == detailed
    assert dict(view.counts) == {"Failed": 1}
