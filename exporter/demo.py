"""`--demo`: start the embedded simulator and a configuration that monitors it.

The exporter then runs exactly as in production: azure-identity's ManagedIdentityCredential gets
its tokens from the simulator's App Service endpoint, and the ARM client reads the simulator's
URL. Only this wiring knows it is a simulator.
"""

from __future__ import annotations

import logging
import os
import time

from exporter.config.schema import Config, parse_config
from exporter.simulator import EstateSpec, Simulator

log = logging.getLogger(__name__)

# ~50 protected items in Recovery Services vaults and ~25 in backup vaults (disks, blobs,
# PostgreSQL, AKS) over three subscriptions, a backup every 10 minutes per item (so a new job
# starts every few seconds somewhere), a week of history, some failures and warnings, one item
# failing for days (AzureBackupOverdue), one DeleteBackupData job, two items not backed up yet,
# a SQL database whose 15-minute log backups stopped 6 hours ago (AzureBackupOverdue, backup_type Log);
# the vault posture cases (simulator.posture) raise each posture alert once.
DEMO_ESTATE = EstateSpec(
    subscriptions=3,
    vaults_per_subscription=2,
    items_per_vault=8,
    period_seconds=600.0,
    duration_range=(20.0, 240.0),
    failure_ratio=0.06,
    warning_ratio=0.08,
    restore_ratio=0.02,
    page_size=200,
    failing_items=1,
    deletion_jobs=1,
    never_backed_up_items=2,  # a VM and a SQL database protected a moment ago (IRPending)
    log_backup_minutes=15.0,  # SQL log backups every 15 minutes, as their policy says...
    broken_log_chains=1,  # ...but one database's stopped 6 hours ago (AzureBackupOverdue)
    history_seconds=8 * 86400.0,
    backup_vaults_per_subscription=1,
    backup_history_seconds=86400.0,  # their lists have no filter: every poll reads all of them
    posture_cases=True,  # soft delete off, immutability Locked and Disabled, a Degraded vault, purges due
)


def start_demo(estate: EstateSpec = DEMO_ESTATE, interval: str = "15s") -> tuple[Simulator, Config]:
    simulator = Simulator(estate).start()
    os.environ.update(simulator.identity_env())
    sub, rg, vault = simulator.estate.vault_refs()[0]
    newest = simulator.estate.jobs(sub, rg, vault, time.time() - 3600, time.time())
    tracked = [newest[0]["name"]] if newest else []
    config = parse_config(
        {
            "azure": {"auth": "managed_identity", "resource_manager_url": simulator.url},
            "collection": {"interval": interval, "lookback": "7d", "vault_tags": ["team", "env"], "coverage": True},
            "targets": [
                {"subscription_id": "*"},
                {"subscription_id": sub, "resource_group": rg, "vault": vault, "jobs": tracked},
            ],
        }
    )
    log.info(
        "demo: simulated Azure on %s (%d Recovery Services vaults, %d backup vaults)",
        simulator.url,
        len(simulator.estate.vault_refs()),
        len(simulator.estate.data_protection.vaults),
    )
    return simulator, config
