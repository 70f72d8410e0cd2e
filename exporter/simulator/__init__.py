"""An Azure simulator on loopback: the subset of Azure Resource Manager the exporter reads
(subscriptions, Recovery Services vaults and Data Protection backup vaults, their jobs) and the
App Service managed-identity token endpoint, serving a deterministic estate. It powers `--demo`,
the tests and the benchmarks through the same code path as production.

    with Simulator(EstateSpec(subscriptions=3)) as sim:
        os.environ.update(sim.identity_env())   # ManagedIdentityCredential gets tokens here
        ...                                    # point the exporter's ARM URL at sim.url
"""

from exporter.simulator.estate import Estate
from exporter.simulator.faults import Fault
from exporter.simulator.routing import RecordedRequest
from exporter.simulator.server import Simulator
from exporter.simulator.spec import EstateSpec, JobFilter

__all__ = ["Estate", "EstateSpec", "Fault", "JobFilter", "RecordedRequest", "Simulator"]
