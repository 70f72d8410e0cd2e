"""nextLink query bytes go on the wire exactly as Azure sent them, only the api-version swapped.

Azure's skip tokens are opaque: requests and urllib3 normalise a URL's percent-escapes (`%2f` →
`%2F`, `%7e` → `~`), which changes the bytes of a token a service may compare byte for byte. The
simulator records each request's target as it arrived.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from exporter.azure.arm import ArmError
from exporter.azure.backup import RecoveryServicesApi
from exporter.simulator import EstateSpec, Fault, Simulator
from tests.arm_builders import API_VERSION, client_for, first_vault
from tests.support import T0, ManualClock

# Lower- and upper-case escapes, an escaped unreserved character and a UTF-8 one, as a service may send.
QUERY = "%24skiptoken=a%2fb%2Bc%3d%3D%7e&%24filter=startTime+eq+%272026-01-01+00%3a00%3a00+AM%27&x=%E2%82%ac"


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator], clock: ManualClock) -> Simulator:
    return start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=1, items_per_vault=4,
                                      period_seconds=3600, page_size=5), clock=clock)


@pytest.mark.parametrize(
    ("link_query", "sent_query"),
    [
        (f"api-version=2017-07-01&{QUERY}", f"api-version={API_VERSION}&{QUERY}"),
        (QUERY, f"api-version={API_VERSION}&{QUERY}"),
        (f"{QUERY}&api-version=2017-07-01", f"{QUERY}&api-version={API_VERSION}"),
    ],
)
def test_next_link_escapes_arrive_byte_identical(sim: Simulator, link_query: str, sent_query: str) -> None:
    vault = first_vault(sim)
    path = f"{vault.resource_id}/backupJobs"
    page = json.dumps({"value": [], "nextLink": f"{sim.url}{path}?{link_query}"})
    sim.add_fault(Fault(path="backupJobs", body=page, times=1))
    pages = client_for(sim).pages(path, api="list_jobs", api_version=API_VERSION)
    assert next(pages) == []
    with pytest.raises(ArmError):  # the made-up skip token is refused; what matters is how it was sent
        next(pages)
    second = [r for r in sim.requests() if r.api == "list_jobs"][1]
    assert second.target == f"{path}?{sent_query}"


def test_the_simulators_own_lowercase_escapes_survive_paging(sim: Simulator) -> None:
    # The simulator escapes its nextLinks as .NET does (lower-case hex: `%3a` in the filter's times).
    vault = first_vault(sim)
    api = RecoveryServicesApi(client_for(sim), API_VERSION)
    pages = list(api.list_jobs(vault, T0 - 86400, T0))
    assert len(pages) >= 3
    followed = [r.target for r in sim.requests() if r.api == "list_jobs"][1:]
    assert len(followed) == len(pages) - 1
    for target in followed:
        assert "&%24filter=startTime+eq+%27" in target
        assert re.search(r"\+\d\d%3a\d\d%3a\d\d\+AM%27", target)
        assert "%3A" not in target
