"""The command line as a user runs it: --once, --demo, config errors, signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter.simulator import EstateSpec, Fault, Simulator

EXPORTER = [sys.executable, "-m", "exporter"]


def write_config(path: Path, sim: Simulator, **collection: object) -> Path:
    targets = [{"subscription_id": s, "resource_group": rg, "vault": v} for s, rg, v in sim.estate.vault_refs()]
    path.write_text(yaml.safe_dump({
        "azure": {"auth": "managed_identity", "resource_manager_url": sim.url},
        "collection": {"interval": "1m", "lookback": "1d", **collection},
        "targets": targets,
    }))
    return path


def env_for(sim: Simulator) -> dict[str, str]:
    return {**os.environ, **sim.identity_env()}


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator]) -> Simulator:
    return start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=3))


def test_once_prints_the_exposition_and_exits_0(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", sim)
    done = subprocess.run([*EXPORTER, f"--config.file={config}", "--once"], env=env_for(sim),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    names = {family.name for family in text_string_to_metric_families(done.stdout)}
    assert {"azure_backup_job_last_status", "azure_backup_jobs", "azure_backup_exporter_target_up"} <= names
    assert "azure_backup_exporter_target_up{" in done.stdout
    assert "cold start done: 2 vaults" in done.stderr  # progress goes to stderr, the exposition to stdout


def test_once_exits_1_when_a_target_fails(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", sim)
    sim.add_fault(Fault(path=sim.estate.vault_refs()[0][2], status=404, times=None))
    done = subprocess.run([*EXPORTER, f"--config.file={config}", "--once"], env=env_for(sim),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "target_up" in done.stdout
    assert "404" in done.stderr


def test_once_exits_1_when_discovery_cannot_list_the_vaults(sim: Simulator, tmp_path: Path) -> None:
    # An identity without the rights to list vaults: no vault found is a failure, not an empty success.
    subscription = sim.estate.vault_refs()[0][0]
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "azure": {"auth": "managed_identity", "resource_manager_url": sim.url},
        "collection": {"interval": "1m", "lookback": "1d"},
        "targets": [{"subscription_id": subscription}],
    }))
    sim.add_fault(Fault(path="/providers/Microsoft.RecoveryServices/vaults\\?", status=403, times=None))
    done = subprocess.run([*EXPORTER, f"--config.file={config}", "--once"], env=env_for(sim),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "azure_backup_exporter_discovery_up 0.0" in done.stdout
    assert "403" in done.stderr


def test_config_errors_are_listed_with_key_paths_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("collection:\n  interval: 5x\n  lookback: 90d\n  colour: blue\ntargets: []\n")
    done = subprocess.run([*EXPORTER, f"--config.file={config}"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 2
    for path in ("collection.interval", "collection.lookback", "collection.colour", "targets"):
        assert path in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_flags_and_a_bad_config_are_reported_together(tmp_path: Path) -> None:
    done = subprocess.run([*EXPORTER, "--log.level=verbose", "--log.format=xml", "--web.listen-address=bogus",
                           f"--config.file={tmp_path / 'missing.yaml'}"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 2
    for flag in ("--log.level", "--log.format", "--web.listen-address", "missing.yaml"):
        assert flag in done.stderr
    assert "usage:" not in done.stderr  # one message of problems, not argparse stopping at the first
    assert "Traceback" not in done.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    done = subprocess.run([*EXPORTER, f"--config.file={tmp_path / 'nope.yaml'}"], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "nope.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_flag_exits_2() -> None:
    done = subprocess.run([*EXPORTER, "--web.listen-address=nonsense"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 2
    assert "--web.listen-address" in done.stderr


def start_server(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([*EXPORTER, "--web.listen-address=127.0.0.1:0", *args], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise AssertionError("the exporter did not start listening")


def wait_ready(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("never became ready")


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_demo_serves_every_metric_family_on_a_free_port() -> None:
    proc, url = start_server(["--demo"])
    try:
        wait_ready(url)
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            text = response.read().decode()
        names = {family.name for family in text_string_to_metric_families(text)}
        expected = {
            "azure_backup_job_last_status", "azure_backup_job_last_start_timestamp_seconds",
            "azure_backup_job_last_end_timestamp_seconds", "azure_backup_job_last_duration_seconds",
            "azure_backup_job_last_success_timestamp_seconds", "azure_backup_job_last_error_info",
            "azure_backup_jobs", "azure_backup_job_size_bytes", "azure_backup_job_duration_seconds",
            "azure_backup_tracked_job_status", "azure_backup_tracked_job_task_status", "azure_backup_vault_info",
            "azure_backup_exporter_target_up", "azure_backup_exporter_api_requests",
            "azure_backup_exporter_api_request_duration_seconds", "azure_backup_exporter_api_ratelimit_remaining",
            "azure_backup_exporter_build_info",
        }
        assert expected <= names
    finally:
        assert stop(proc) == 0


def metrics_showing(url: str, text: str, seconds: float = 20.0) -> str:
    """/metrics once it contains `text`, or as it was when `seconds` ran out."""
    deadline = time.monotonic() + seconds
    body = ""
    while time.monotonic() < deadline and text not in body:
        time.sleep(0.2)
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            body = response.read().decode()
    return body


def test_sighup_reloads_and_a_bad_config_keeps_the_old(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", sim, vault_tags=["team"])
    proc, url = start_server([f"--config.file={config}"], env_for(sim))
    try:
        wait_ready(url)
        config.write_text("collection: [not, a, mapping]\n")
        proc.send_signal(signal.SIGHUP)
        # Two SIGHUPs before the main loop wakes are one reload: see this one handled first.
        assert "azure_backup_exporter_config_last_reload_successful 0.0" in metrics_showing(
            url, "azure_backup_exporter_config_last_reload_successful 0.0")
        with urllib.request.urlopen(f"{url}/-/healthy", timeout=5) as response:
            assert response.status == 200
        write_config(config, sim, vault_tags=["env"])
        proc.send_signal(signal.SIGHUP)
        assert "tag_env=" in metrics_showing(url, "tag_env=")
    finally:
        assert stop(proc) == 0
    assert proc.stderr is not None
    log = proc.stderr.read()
    assert "config reload rejected" in log
    assert "config reloaded" in log
