"""Process lifecycle: SIGTERM flushes state and exits 0 promptly, SIGHUP reloads show in the
metrics, and a restart with a state file serves its counters at once but is ready only after a poll."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from exporter.exposition.publisher import Exposition
from exporter.simulator import EstateSpec, Simulator
from exporter.web.server import ExporterHTTPServer
from tests.exporter_process import ExporterProcess, SeriesKey, samples, write_config

ESTATE = EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=4, period_seconds=600.0,
                    duration_range=(30.0, 300.0))


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator]) -> Simulator:
    return start_simulator(ESTATE)


def jobs_total(series: dict[SeriesKey, float]) -> float:
    return sum(value for _, value in samples(series, "azure_backup_jobs_total"))


def value(series: dict[SeriesKey, float], name: str, **labels: str) -> float | None:
    return series.get((name, tuple(sorted(labels.items()))))


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_sigterm_mid_poll_flushes_state_and_exits_0_promptly(sim: Simulator, tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    config = write_config(tmp_path / "c.yaml", sim, state_file=state_file,
                          collection={"interval": "1s", "request_timeout": "30s"})
    exporter = ExporterProcess(config, sim, tmp_path / "exporter.log")
    exporter.wait_ready()
    assert json.loads(state_file.read_bytes())["vaults"]  # written after the first poll already
    sim.latency = 10.0  # the next poll hangs on Azure, far longer than a prompt exit takes
    wait_for(lambda: sim.requests()[-1].time < time.time() - 1.5, 5, "a poll in flight")
    asked = time.time()
    assert exporter.terminate() == 0
    took = time.time() - asked
    # ~1 s on an idle machine; an exit that waited for the request would take 8.5 s or more.
    assert took < 6, f"exit took {took:.1f} s with a 10 s request on the wire"
    document = json.loads(state_file.read_bytes())
    assert document["written_at"] >= asked  # flushed on the way out
    log = exporter.log_text()
    assert "shutting down" in log
    assert f"state written to {state_file}" in log
    assert not (tmp_path / "state.json.tmp").exists()


def test_restart_serves_restored_counters_at_once_but_is_ready_only_after_a_poll(
    sim: Simulator, tmp_path: Path
) -> None:
    state_file = tmp_path / "state.json"
    # Without details, a poll is one list request per vault (and discovery one per subscription).
    config = write_config(tmp_path / "c.yaml", sim, state_file=state_file,
                          collection={"interval": "1m", "job_details": False})
    exporter = ExporterProcess(config, sim, tmp_path / "exporter.log")
    exporter.wait_ready()
    before = exporter.scrape()
    assert jobs_total(before) > 0
    assert exporter.terminate() == 0

    sim.latency = 1.0  # the first poll after the restart takes a while
    exporter = ExporterProcess(config, sim, tmp_path / "exporter.log")
    try:
        restored = exporter.scrape()
        assert exporter.get("/-/ready")[0] == 503
        assert jobs_total(restored) == jobs_total(before)
        assert not list(samples(restored, "azure_backup_exporter_target_up"))  # no poll yet in this process
        assert "state restored from" in exporter.log_text()
        exporter.wait_ready()
        polled = exporter.scrape()
        assert [v for _, v in samples(polled, "azure_backup_exporter_target_up")] == [1.0, 1.0]
        assert jobs_total(polled) >= jobs_total(before)
    finally:
        assert exporter.terminate() == 0


def test_sighup_reloads_are_counted_in_the_metrics(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", sim, collection={"interval": "1s"})
    exporter = ExporterProcess(config, sim, tmp_path / "exporter.log")
    try:
        exporter.wait_ready()
        first = exporter.scrape()
        assert value(first, "azure_backup_exporter_config_last_reload_successful") == 1.0
        assert value(first, "azure_backup_exporter_config_reloads_total", result="success") == 0.0
        assert value(first, "azure_backup_exporter_config_reloads_total", result="failure") == 0.0
        loaded_at = value(first, "azure_backup_exporter_config_last_reload_success_timestamp_seconds")
        assert loaded_at is not None

        config.write_text("collection:\n  interval: 5x\n")
        exporter.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: value(exporter.scrape(), "azure_backup_exporter_config_last_reload_successful") == 0.0,
                 10, "the failed reload in the exposition")
        failed = exporter.scrape()
        assert value(failed, "azure_backup_exporter_config_reloads_total", result="failure") == 1.0
        assert value(failed, "azure_backup_exporter_config_last_reload_success_timestamp_seconds") == loaded_at

        write_config(config, sim, collection={"interval": "1s"})
        exporter.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: value(exporter.scrape(), "azure_backup_exporter_config_last_reload_successful") == 1.0,
                 10, "the successful reload in the exposition")
        reloaded = exporter.scrape()
        assert value(reloaded, "azure_backup_exporter_config_reloads_total", result="success") == 1.0
        assert value(reloaded, "azure_backup_exporter_config_reloads_total", result="failure") == 1.0
        assert (value(reloaded, "azure_backup_exporter_config_last_reload_success_timestamp_seconds") or 0) > loaded_at
    finally:
        assert exporter.terminate() == 0


def test_shutdown_lets_a_slow_scrape_in_flight_finish() -> None:
    # Bigger than the kernel's socket buffers (4 MB at most here), so the response stays in flight
    # until the client reads it: the CLI's shutdown drains such responses before it exits.
    body = b"azure_backup_jobs_total 1.0\n" * 300_000
    exposition = Exposition.from_plain(body, ready=True)
    server = ExporterHTTPServer(("127.0.0.1", 0), lambda: exposition)
    server.serve_in_thread()
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(server.server_address[:2])
    client.sendall(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n\r\n")
    received = bytearray(client.recv(4096))
    server.shutdown()  # what SIGTERM does first: no new connections
    drained = threading.Event()
    drainer = threading.Thread(target=lambda: server.drain(10.0) and drained.set())
    drainer.start()
    time.sleep(0.5)
    assert not drained.is_set()  # waits for the slow reader
    while chunk := client.recv(1 << 20):
        received.extend(chunk)
    client.close()
    drainer.join(timeout=10)
    server.server_close()
    assert drained.is_set()
    head, _, payload = bytes(received).partition(b"\r\n\r\n")
    assert b"200 OK" in head
    assert payload == body


def test_a_second_exporter_on_the_same_state_file_refuses_to_start(sim: Simulator, tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    config = write_config(tmp_path / "c.yaml", sim, state_file=state_file, collection={"interval": "1s"})
    first = ExporterProcess(config, sim, tmp_path / "first.log")
    first.wait_ready()
    second = subprocess.run(
        [sys.executable, "-m", "exporter", f"--config.file={config}", "--web.listen-address=127.0.0.1:0"],
        env={**os.environ, **sim.identity_env()}, capture_output=True, text=True, timeout=30, check=False,
    )
    assert second.returncode == 1
    assert f"state file {state_file} is in use by another process (pid {first.proc.pid})" in second.stderr
    assert "Traceback" not in second.stderr
    assert "listening on" not in second.stderr  # refused before the port is bound
    assert first.ready()  # the owner goes on, its file untouched by the second
    assert first.terminate() == 0
    # The lock went with its process: the next exporter takes the file over.
    after = ExporterProcess(config, sim, tmp_path / "after.log")
    after.wait_ready()
    assert "in use by another process" not in after.log_text()
    assert after.terminate() == 0
