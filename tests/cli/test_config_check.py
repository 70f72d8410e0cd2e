"""`--config.check` against the simulator: every read tried once, a denied one named with its role."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from exporter.azure.telemetry import ApiTelemetry
from exporter.polling.permissions import READS, Outcome, build_client, check_permissions, format_table, run_checks
from exporter.simulator import EstateSpec, Fault, Simulator
from tests.support import sim_config

ESTATE = EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=3, backup_vaults_per_subscription=1)
EVERYWHERE = [{"subscription_id": "*"}]


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator]) -> Simulator:
    return start_simulator(ESTATE)


def outcomes_of(sim: Simulator, **collection: object) -> list[tuple[str, str, str]]:
    config = sim_config(sim, targets=EVERYWHERE, **collection)
    arm, tokens = build_client(config, ApiTelemetry())
    try:
        return [(o.scope, o.read, o.verdict) for o in run_checks(config, arm, tokens, time.time())]
    finally:
        arm.close()


def test_every_read_the_config_needs_is_tried_once_and_works(sim: Simulator) -> None:
    outcomes = outcomes_of(sim, inventory_interval="30m")
    reads = [read for _, read, _ in outcomes]
    rs_vaults, backup_vaults = len(sim.estate.vault_refs()), 1
    assert reads.count("list_subscriptions") == 1
    assert reads.count("list_vaults") == reads.count("list_backup_vaults") == 1
    for read in ("list_jobs", "get_job", "list_protected_items"):
        assert reads.count(read) == rs_vaults
    for read in ("list_backup_jobs", "get_backup_job"):
        assert reads.count(read) == backup_vaults
    assert {verdict for _, _, verdict in outcomes} == {"ok"}
    assert "resource_graph" not in reads


def test_reads_the_config_does_not_need_are_not_tried(sim: Simulator) -> None:
    reads = {read for _, read, _ in outcomes_of(sim, inventory_interval=0, job_details=False)}
    assert reads.isdisjoint({"get_job", "get_backup_job", "list_protected_items"})
    assert "list_jobs" in reads


def test_resource_graph_source_checks_the_query_instead_of_the_job_lists(sim: Simulator) -> None:
    outcomes = outcomes_of(sim, source="resource_graph", lookback="1d")
    reads = [read for _, read, _ in outcomes]
    assert reads.count("resource_graph") == 1
    assert "list_jobs" not in reads
    assert {verdict for _, _, verdict in outcomes} == {"ok"}


def test_a_denied_resource_graph_query_names_its_role(sim: Simulator) -> None:
    sim.add_fault(Fault.deny(r"/providers/Microsoft\.ResourceGraph/"))
    outcomes = outcomes_of(sim, source="resource_graph", lookback="1d")
    failed = [(read, verdict) for _, read, verdict in outcomes if verdict != "ok"]
    assert len(failed) == 1
    assert failed[0][0] == "resource_graph"
    assert failed[0][1].startswith(f"403: needs {READS['resource_graph'][1]} (resource_graph: HTTP 403")


def test_a_denied_read_is_shown_with_its_role_and_fails_the_check(sim: Simulator) -> None:
    _sub, _rg, denied = sim.estate.vault_refs()[0]
    sim.add_fault(Fault.deny(rf"/vaults/{denied}/backupJobs/"))  # job details only, not the list
    sim.reset_requests()
    out = io.StringIO()
    assert check_permissions(sim_config(sim, targets=EVERYWHERE), out) is False
    table = out.getvalue()
    row = next(line for line in table.splitlines() if f"/{denied} " in line and "job details" in line)
    assert f"403: needs {READS['get_job'][1]} (get_job: HTTP 403 AuthorizationFailed" in row
    assert "Backup Reader on the vault" in row
    assert "1 of " in table
    assert "reads failed" in table
    refused = [r for r in sim.requests() if r.status == 403]
    assert len(refused) == 1  # a 403 is an answer, not a hiccup: never retried
    others = [line for line in table.splitlines()[1:] if line and "403" not in line and "read" not in line]
    assert others
    assert all(line.endswith("ok") for line in others)


def test_a_vault_with_cross_region_restore_gets_its_crr_read_checked(
    start_simulator: Callable[..., Simulator],
) -> None:
    sim = start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=3, posture_cases=True))
    crr_vault = sim.estate.vaults[1].name  # simulator.crr: the posture cases' vault 1 has it on
    assert [(scope.split(" ")[0].rsplit("/", 1)[-1], verdict) for scope, read, verdict in outcomes_of(sim)
            if read == "list_crr_jobs"] == [(crr_vault, "ok")]
    sim.add_fault(Fault.deny("backupCrrJobs"))
    denied = [verdict for _, read, verdict in outcomes_of(sim) if verdict != "ok"]
    assert len(denied) == 1
    assert denied[0].startswith(f"403: needs {READS['list_crr_jobs'][1]} (list_crr_jobs: HTTP 403")


def test_other_errors_are_shown_verbatim(sim: Simulator) -> None:
    _sub, _rg, vault = sim.estate.vault_refs()[1]
    sim.add_fault(Fault(path=rf"/vaults/{vault}/backupJobs\?", status=404, times=None))
    outcomes = outcomes_of(sim)
    failed = [(scope, read, verdict) for scope, read, verdict in outcomes if verdict != "ok"]
    assert len(failed) == 1
    assert failed[0][1] == "list_jobs"
    assert failed[0][2].startswith("error: list_jobs: HTTP 404 ResourceNotFound")


def test_a_token_that_cannot_be_had_is_one_row(sim: Simulator) -> None:
    sim.add_fault(Fault(path="/msi/token", status=400, times=None))
    outcomes = outcomes_of(sim)
    assert [(read, verdict.split(":")[0]) for _, read, verdict in outcomes] == [("token", "error")]


def test_table_lines_up() -> None:
    vault = "sub/rg/v (recovery_services)"
    text = format_table([Outcome(vault, "list_jobs", None),
                         Outcome(vault, "get_job", 403, "get_job: HTTP 403 AuthorizationFailed")])
    lines = text.splitlines()
    assert lines[0].split() == ["scope", "read", "result"]
    assert lines[1].index("ok") == lines[2].index("403") == lines[0].index("result")
    assert lines[-1] == "1 of 2 reads failed"


def test_command_line_exits_1_on_a_denied_read_and_0_when_all_work(sim: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "azure": {"auth": "managed_identity", "resource_manager_url": sim.url},
        "collection": {"request_timeout": "5s"},
        "targets": EVERYWHERE,
    }))
    env = {**os.environ, **sim.identity_env()}
    command = [sys.executable, "-m", "exporter", f"--config.file={config}", "--config.check"]
    sim.add_fault(Fault.deny(r"/backupProtectedItems"))
    denied = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert denied.returncode == 1, denied.stderr
    assert "protected items" in denied.stdout
    assert f"403: needs {READS['list_protected_items'][1]}" in denied.stdout
    sim.clear_faults()
    allowed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "reads work" in allowed.stdout


def test_command_line_config_error_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("targets: 3\n")
    done = subprocess.run([sys.executable, "-m", "exporter", f"--config.file={config}", "--config.check"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "invalid configuration" in done.stderr
