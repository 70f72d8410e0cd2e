"""The exporter as a separate process, the way an operator runs it: start, scrape, signal, kill.

Its log goes to a file (a pipe nobody reads would fill up and block the exporter).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter.simulator import Simulator

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def write_config(path: Path, sim: Simulator, **extra: Any) -> Path:
    """A config that monitors every vault of `sim`; `collection` and top-level keys from `extra`."""
    collection = {"interval": "5s", "lookback": "1h", "request_timeout": "5s", **extra.pop("collection", {})}
    targets = [{"subscription_id": s, "resource_group": rg, "vault": v} for s, rg, v in sim.estate.vault_refs()]
    document = {
        "azure": {"auth": "managed_identity", "resource_manager_url": sim.url},
        "collection": collection,
        "targets": targets,
        **{key: str(value) if isinstance(value, Path) else value for key, value in extra.items()},
    }
    path.write_text(yaml.safe_dump(document))
    return path


class ExporterProcess:
    def __init__(self, config: Path, sim: Simulator, log: Path) -> None:
        self.log_path = log
        self._log = log.open("ab")
        self._log_start = self._log.tell()  # restarts append to the same log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", f"--config.file={config}", "--web.listen-address=127.0.0.1:0"],
            env={**os.environ, **sim.identity_env()},
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        self.url = self._wait_for_url()

    def _wait_for_url(self, seconds: float = 30.0) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.proc.poll() is None:
            found = re.search(r"listening on (http://\S+)", self.log_text())
            if found:
                return found[1]
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"the exporter did not start listening:\n{self.log_text()}")

    def log_text(self) -> str:
        """This process's part of the log."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def ready(self) -> bool:
        return self.get("/-/ready")[0] == 200

    def wait_ready(self, seconds: float = 30.0) -> float:
        """Wait for /-/ready; returns when it was first seen."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.ready():
                return time.time()
            time.sleep(0.02)
        raise AssertionError(f"never became ready:\n{self.log_text()}")

    def scrape(self) -> dict[SeriesKey, float]:
        status, text = self.get("/metrics")
        assert status == 200
        return parse(text)

    def kill(self) -> None:
        """kill -9: no handler runs, nothing is flushed."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._log.close()

    def terminate(self, timeout: float = 20.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()


def parse(text: str) -> dict[SeriesKey, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def samples(series: dict[SeriesKey, float], name: str) -> Iterable[tuple[dict[str, str], float]]:
    return ((dict(labels), value) for (sample, labels), value in series.items() if sample == name)
