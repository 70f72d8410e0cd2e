"""The end-to-end stack on 127.0.0.1: the simulator, the exporter as a real subprocess, Prometheus
with a copy of the shipped rules, Alertmanager, and a webhook receiver; plus the PromQL helpers the
tests need. `start_stack` stops everything it started, in reverse order, however it is left.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from exporter.simulator import EstateSpec, Simulator
from tests.binaries import require_binary
from tests.e2e_processes import ManagedProcess, WebhookReceiver, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
HTTP_TIMEOUT = 5.0
# `for:` lines of a rule file. The shipped rules wait minutes (hours for one) before firing;
# the e2e copy waits seconds, and nothing else in the file changes.
_FOR_LINE = re.compile(r"^(?P<indent>[ \t]+)for: (?P<duration>\S+)[ \t]*$", re.MULTILINE)
# Series selectors of the project's PromQL: our metrics, the recorded `item:` series and `up`.
_SELECTOR = re.compile(r"\b(?:azure_backup_\w+|item:[\w:]+|up)\b(?:\s*\{[^}]*\})?")


def shorten_for_durations(rules_text: str, duration: str) -> tuple[str, int]:
    """The rule file with every `for:` set to `duration` (each line says what it was), and how many."""
    header = (
        f"# End-to-end test copy of prometheus/alerts.yml: every `for:` is shortened to {duration} so that\n"
        "# alerts fire within seconds of the data; every expr, label and annotation is unchanged.\n"
    )
    shortened, count = _FOR_LINE.subn(
        lambda m: f"{m['indent']}for: {duration}  # e2e: shortened from {m['duration']}", rules_text
    )
    return header + shortened, count


def series_selectors(expr: str) -> list[str]:
    """The series selectors of one of our expressions, whitespace collapsed: `azure_backup_x{a="b"}`."""
    return [" ".join(match.split()) for match in _SELECTOR.findall(expr)]


def prometheus_config(exporter: str, alertmanager: str, rule_file: str) -> str:
    """Scrape the exporter every 2 seconds under the shipped job name, evaluate rules every second."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [rule_file],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                # The job name the rules watch (AzureBackupExporterStale: up{job="azure-backup"}).
                "job_name": "azure-backup",
                # A scrape takes milliseconds; a 2 s timeout keeps one slowed by a loaded CI machine
                # from counting as failed (up == 0 raises AzureBackupExporterStale{cause=scrape}).
                "scrape_interval": "2s",
                "scrape_timeout": "2s",
                "static_configs": [{"targets": [exporter]}],
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def alertmanager_config(webhook_url: str) -> str:
    """One webhook receiver; every alert its own group, notified within about a second."""
    config = {
        "route": {
            "receiver": "webhook",
            "group_by": ["..."],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "webhook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def labels_of(alert: Mapping[str, Any]) -> dict[str, str]:
    return dict(alert.get("labels", {}))


@dataclass
class Stack:
    sim: Simulator
    exporter_url: str
    prometheus_url: str
    webhook: WebhookReceiver
    processes: list[ManagedProcess]
    rules_copy: Path
    started: float
    session: requests.Session

    def deadline(self, seconds_from_start: float) -> float:
        """Waits share one budget measured from the start of the stack, so that one failure
        cannot make every later test wait its own full timeout."""
        return self.started + seconds_from_start

    def alive(self) -> None:
        for process in self.processes:
            process.check_alive()

    def logs(self) -> str:
        return "\n".join(process.log_tail(15) for process in self.processes)

    def api(self, path: str, **params: str) -> Any:
        response = self.session.get(f"{self.prometheus_url}{path}", params=params, timeout=HTTP_TIMEOUT)
        body = response.json()
        if body.get("status") != "success":
            pytest.fail(f"Prometheus {path} {params}: {body.get('errorType')}: {body.get('error')}", pytrace=False)
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result; a parse error fails the test with Prometheus' message."""
        data = self.api("/api/v1/query", query=expr)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus' active alerts, pending and firing."""
        alerts: list[dict[str, Any]] = self.api("/api/v1/alerts")["alerts"]
        return alerts


def exporter_config(sim: Simulator, poll_seconds: float, lookback: str, *, coverage: bool = False) -> str:
    return yaml.safe_dump(
        {
            "azure": {"auth": "managed_identity", "resource_manager_url": sim.url},
            "collection": {"interval": f"{poll_seconds:g}s", "lookback": lookback, "request_timeout": "5s",
                           "coverage": coverage},
            "targets": [
                {"subscription_id": s, "resource_group": rg, "vault": v} for s, rg, v in sim.estate.vault_refs()
            ],
        }
    )


@contextlib.contextmanager
def start_stack(
    estate: EstateSpec,
    work: Path,
    *,
    alerts: Path,
    poll_seconds: float,
    lookback: str,
    for_duration: str,
    startup_seconds: float,
    coverage: bool = False,
) -> Iterator[Stack]:
    """Everything up, and the exporter's data scraped and run through the recording rules."""
    prometheus_bin = require_binary("prometheus")
    alertmanager_bin = require_binary("prometheus-alertmanager")
    started = time.monotonic()
    deadline = started + startup_seconds
    with contextlib.ExitStack() as cleanup:
        session = cleanup.enter_context(requests.Session())
        sim = cleanup.enter_context(Simulator(estate))
        webhook = cleanup.enter_context(WebhookReceiver().running())
        processes: list[ManagedProcess] = []

        def launch(name: str, args: list[str], **popen: Any) -> ManagedProcess:
            process = ManagedProcess(name, args, work / f"{name}.log", **popen)
            processes.append(process)
            cleanup.callback(process.stop)  # stopped last-started first, even when a later step fails
            return process

        alertmanager = f"127.0.0.1:{free_port()}"
        (work / "alertmanager.yml").write_text(alertmanager_config(webhook.url), encoding="utf-8")
        launch("alertmanager", [
            alertmanager_bin,
            f"--config.file={work / 'alertmanager.yml'}",
            f"--storage.path={work / 'alertmanager-data'}",
            f"--web.listen-address={alertmanager}",
            "--cluster.listen-address=",  # no gossip port on 0.0.0.0:9094
        ])

        config = exporter_config(sim, poll_seconds, lookback, coverage=coverage)
        (work / "exporter.yml").write_text(config, encoding="utf-8")
        exporter = launch(
            "exporter",
            [sys.executable, "-m", "exporter", f"--config.file={work / 'exporter.yml'}",
             "--web.listen-address=127.0.0.1:0"],
            cwd=ROOT,  # `exporter` is imported from this tree, not an installed copy
            env={**os.environ, **sim.identity_env(), "PYTHONPATH": str(ROOT)},
        )

        def listening() -> str | None:
            found = re.search(r"listening on (http://[\d.]+:\d+)", exporter.log_path.read_text(errors="replace"))
            return found.group(1) if found else None

        exporter_url = wait_for("the exporter to log its address", listening, deadline,
                                alive=exporter.check_alive, detail=exporter.log_tail)

        rules_text, _ = shorten_for_durations(alerts.read_text(encoding="utf-8"), for_duration)
        rules_copy = work / "alerts.yml"
        rules_copy.write_text(rules_text, encoding="utf-8")
        prometheus = f"127.0.0.1:{free_port()}"
        (work / "prometheus.yml").write_text(
            prometheus_config(exporter_url.removeprefix("http://"), alertmanager, rules_copy.name), encoding="utf-8"
        )
        launch("prometheus", [
            prometheus_bin,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'prometheus-data'}",
            f"--web.listen-address={prometheus}",
        ])
        stack = Stack(sim, exporter_url, f"http://{prometheus}", webhook, processes, rules_copy, started, session)

        def ready(url: str) -> bool | None:
            return True if session.get(url, timeout=HTTP_TIMEOUT).status_code == 200 else None

        for what, url in [
            ("Alertmanager", f"http://{alertmanager}/-/ready"),
            ("the exporter's first poll", f"{exporter_url}/-/ready"),
            ("Prometheus", f"{stack.prometheus_url}/-/ready"),
        ]:
            wait_for(f"{what} to be ready", lambda url=url: ready(url), deadline, alive=stack.alive, detail=stack.logs)
        # The exporter publishes a cold start vault by vault: wait for a scrape that has them all,
        # then for the recording rules to have run on it.
        vaults = f"count(azure_backup_exporter_target_up == 1) == {len(sim.estate.vault_refs())}"
        for expr in (vaults, "item:azure_backup_last_backup_success_timestamp_seconds:max"):
            wait_for(f"{expr} in Prometheus", lambda expr=expr: stack.query(expr) or None, deadline,
                     alive=stack.alive, detail=stack.logs)
        yield stack
