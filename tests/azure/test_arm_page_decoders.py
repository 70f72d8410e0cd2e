"""ArmClient.pages with a page decoder (the typed job pages): a page the decoder refuses is still read
generically, and one that is no page at all is still a retried, counted InvalidBody."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from exporter.azure.arm import ArmError
from exporter.azure.backup import RecoveryServicesApi
from exporter.azure.telemetry import ApiTelemetry
from exporter.parsing.job_pages import decode_job_page, parse_listed_job
from exporter.parsing.jobs import parse_job
from exporter.simulator import EstateSpec, Fault, Simulator
from tests.arm_builders import API_VERSION, client_for, first_vault
from tests.support import T0, ManualClock


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    return start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=1, items_per_vault=4,
                                      period_seconds=3600, page_size=5), clock=clock)


def test_typed_pages_parse_as_the_generic_ones(sim: Simulator) -> None:
    api = RecoveryServicesApi(client_for(sim), API_VERSION)
    vault = first_vault(sim)
    typed_errors: Counter[str] = Counter()
    generic_errors: Counter[str] = Counter()
    typed = [parse_listed_job(raw, typed_errors) for page in api.list_jobs(vault, T0 - 86400, T0, decode_job_page)
             for raw in page]
    generic = [parse_job(raw, generic_errors) for page in api.list_jobs(vault, T0 - 86400, T0) for raw in page]
    assert len(typed) > 5  # more than one page
    assert typed == generic
    assert typed_errors == generic_errors


def test_a_page_the_decoder_refuses_is_read_generically(sim: Simulator) -> None:
    api = RecoveryServicesApi(client_for(sim), API_VERSION)
    sim.add_fault(Fault(path="backupJobs", body='{"value": [{"name": "j1", "properties": "not an object"}]}', times=1))
    pages = list(api.list_jobs(first_vault(sim), T0 - 86400, T0, decode_job_page))
    assert pages == [[{"name": "j1", "properties": "not an object"}]]
    errors: Counter[str] = Counter()
    job = parse_listed_job(pages[0][0], errors)
    assert job is not None
    assert job.job_id == "j1"
    assert errors["properties"] == 1


def test_a_body_that_is_no_page_is_still_an_invalid_body(sim: Simulator) -> None:
    telemetry = ApiTelemetry()
    api = RecoveryServicesApi(client_for(sim, telemetry=telemetry), API_VERSION)
    sim.add_fault(Fault(path="backupJobs", body='{"nextLink": null}', times=10))
    with pytest.raises(ArmError) as caught:
        list(api.list_jobs(first_vault(sim), T0 - 86400, T0, decode_job_page))
    assert caught.value.code == "InvalidBody"
    assert telemetry.snapshot().parse_errors == {"response_body": 4}  # every attempt counted
