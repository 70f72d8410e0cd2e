"""Secrets never leave the process: not in a log line (debug, json and logfmt), a metric, an HTTP
response or an error message — on the paths where they are most at risk: a client secret that Entra
ID cannot check (no network here), bearer tokens that ARM revokes, basic-auth passwords right and wrong.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.simulator import EstateSpec, Fault, Simulator
from tests.pki import bcrypt_hash

EXPORTER = [sys.executable, "-m", "exporter"]
CLIENT_SECRET = "s3cr3t-DO-NOT-LEAK-7f9a"
SCRAPE_PASSWORD = "scrape-pw-DO-NOT-LEAK-31c8"
WRONG_PASSWORD = "wrong-pw-DO-NOT-LEAK-5d2e"
TENANT, CLIENT = "72f988bf-86f1-41af-91ab-2d7cd011db47", "3f1c2b9e-5d4a-4e7b-8c6d-9a0b1c2d3e4f"
PATHS = ("/", "/metrics", "/-/ready", "/-/healthy", "/nope")


def forms(secret: str) -> set[str]:
    """A secret as it could appear if something printed it raw, URL-encoded or base64-encoded."""
    return {secret, urllib.parse.quote(secret), urllib.parse.quote_plus(secret),
            base64.b64encode(secret.encode()).decode().rstrip("=")}


def auth(password: str) -> str:
    return "Basic " + base64.b64encode(f"prometheus:{password}".encode()).decode()


@dataclass
class Run:
    proc: subprocess.Popen[str]
    url: str = ""
    seen: list[str] = field(default_factory=list)  # every byte of every response, as text

    def get(self, path: str, password: str | None = SCRAPE_PASSWORD) -> str:
        request = urllib.request.Request(self.url + path, headers={"Accept-Encoding": "identity"})
        if password is not None:
            request.add_header("Authorization", auth(password))
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = f"{response.status} {response.headers}\n{response.read().decode()}"
        except urllib.error.HTTPError as err:
            text = f"{err.code} {err.headers}\n{err.read().decode()}"
        self.seen.append(text)
        return text


def start(args: list[str], env: dict[str, str]) -> Run:
    proc = subprocess.Popen([*EXPORTER, "--web.listen-address=127.0.0.1:0", "--log.level=debug", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return Run(proc)


def wait_listening(run: Run, log: list[str]) -> None:
    assert run.proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = run.proc.stderr.readline()
        log.append(line)
        if found := re.search(r"listening on (http://[0-9.:]+)", line):
            run.url = found.group(1)
            return
    raise AssertionError("the exporter did not start listening:\n" + "".join(log))


def wait_for(run: Run, path: str, text: str, seconds: float = 40) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in (answer := run.get(path)):
            return answer
        time.sleep(0.3)
    raise AssertionError(f"{path} never showed {text!r}")


def finish(runs: list[tuple[Run, list[str]]]) -> list[str]:
    """Stops the exporters (all at once: each takes a moment); everything each wrote and answered."""
    for run, _ in runs:
        if run.proc.poll() is None:
            run.proc.send_signal(signal.SIGTERM)
    outputs = []
    for run, log in runs:
        try:
            stdout, stderr = run.proc.communicate(timeout=30)
        finally:
            if run.proc.poll() is None:
                run.proc.kill()
        outputs.append("".join(log) + stderr + stdout + "\n".join(run.seen))
    return outputs


def assert_secret_free(output: str, secrets: set[str]) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in output, f"{form!r} leaked"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_"))}
    return {**env, **extra}


def write_web_config(path: Path) -> Path:
    path.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": bcrypt_hash(SCRAPE_PASSWORD)}}))
    return path


def stop_all(runs: list[tuple[Run, list[str]]]) -> None:
    for run, _ in runs:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.communicate(timeout=10)


@pytest.fixture
def runs() -> Iterator[list[tuple[Run, list[str]]]]:
    started: list[tuple[Run, list[str]]] = []
    yield started
    stop_all(started)


@pytest.fixture(scope="module")
def entra_unreachable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[Run, list[str]]]]:
    """Exporters (json and logfmt) whose client secret Entra ID never sees: there is no network here.

    Each token request waits ~5 s for azure-identity to give up on login.microsoftonline.com, and a
    first poll makes two. So they start once per module, and the first test asks for them too: that
    wait then overlaps the first test instead of adding to it.
    """
    tmp = tmp_path_factory.mktemp("entra")
    secret_file = tmp / "client-secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump({
        "azure": {"auth": "client_secret", "tenant_id": TENANT, "client_id": CLIENT,
                  "client_secret_file": str(secret_file)},
        "collection": {"interval": "1m", "lookback": "1d", "request_timeout": "5s"},
        "targets": [{"subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg",
                     "vault": "vault-prod"}],
    }))
    common = [f"--config.file={config}", f"--web.config.file={write_web_config(tmp / 'web.yml')}"]
    started = [(start([*common, f"--log.format={fmt}"], clean_env()), []) for fmt in ("json", "logfmt")]
    yield started
    stop_all(started)


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator]) -> Simulator:
    return start_simulator(EstateSpec(subscriptions=1, vaults_per_subscription=2, items_per_vault=2))


def test_bearer_tokens_and_the_identity_header_never_leak(
    sim: Simulator, tmp_path: Path, runs: list[Any], entra_unreachable: list[Any]
) -> None:
    issued: list[str] = []
    issue = sim.tokens.issue

    def recording_issue() -> tuple[str, int]:
        token, expires_on = issue()
        issued.append(token)
        return token, expires_on

    sim.tokens.issue = recording_issue  # type: ignore[method-assign]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "azure": {"auth": "managed_identity", "resource_manager_url": sim.url},
        "collection": {"interval": "1s", "lookback": "1d", "request_timeout": "5s"},
        "targets": [{"subscription_id": s, "resource_group": rg, "vault": v} for s, rg, v in sim.estate.vault_refs()],
    }))
    web = write_web_config(tmp_path / "web.yml")
    env = clean_env(**sim.identity_env())
    for fmt in ("json", "logfmt"):
        runs.append((start([f"--config.file={config}", f"--web.config.file={web}", f"--log.format={fmt}"], env), []))
    for run, log in runs:
        wait_listening(run, log)
        wait_for(run, "/-/ready", "200 ")
    first = len(issued)
    # ARM now refuses every token it issued (a 401 with a claims challenge), then fails once more:
    # the refresh and error paths are where a token would end up in a message.
    revoked_at = time.time()
    sim.revoke_tokens()
    sim.add_fault(Fault(path="backupJobs", status=500, times=2))
    deadline = time.monotonic() + 20
    while len(issued) < first + len(runs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(issued) >= first + len(runs), "the exporters never fetched a fresh token"
    while time.monotonic() < deadline and not any(
            r.api == "list_jobs" and r.status == 200 and r.time > revoked_at for r in sim.requests()):
        time.sleep(0.1)  # until a poll went through with a fresh token
    for run, _ in runs:
        for path in PATHS:
            run.get(path)
            run.get(path, WRONG_PASSWORD)
        assert 'api="token",code="ok"' in run.get("/metrics")
    outputs = finish(runs)
    assert any(r.status == 401 for r in sim.requests())
    for output in outputs:
        assert_secret_free(output, {*issued, sim.identity_header, SCRAPE_PASSWORD, WRONG_PASSWORD})


def test_client_secret_never_leaks_when_entra_id_is_unreachable(entra_unreachable: list[Any]) -> None:
    runs = entra_unreachable
    for run, log in runs:
        wait_listening(run, log)
    for run, _ in runs:
        wait_for(run, "/metrics", 'azure_backup_exporter_api_requests_total{api="token",code="error"}')
        for path in PATHS:
            run.get(path)
            run.get(path, WRONG_PASSWORD)
            run.get(path, password=None)
    outputs = finish(runs)
    for output in outputs:
        assert "could not get an Azure token" in output  # the failure path did run, and was logged
        assert_secret_free(output, {CLIENT_SECRET, SCRAPE_PASSWORD, WRONG_PASSWORD})
    assert '"level": "warning"' in outputs[0]  # json
    assert "level=warning" in outputs[1]  # logfmt
