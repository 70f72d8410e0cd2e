"""--web.config.file as a user runs it: bad files exit 2 before binding; TLS + basic auth served; SIGHUP reloads."""

from __future__ import annotations

import base64
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.pki import Pki, bcrypt_hash, make_pki

EXPORTER = [sys.executable, "-m", "exporter"]
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def valid_config(path: Path) -> Path:
    target = {"subscription_id": SUBSCRIPTION, "resource_group": "rg", "vault": "v"}
    path.write_text(yaml.safe_dump({"azure": {"auth": "managed_identity"}, "targets": [target]}))
    return path


def test_invalid_web_config_lists_every_problem_with_key_paths_and_exits_2(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": "nope.crt", "key_file": "nope.key", "min_version": "TLS10",
                              "client_auth_type": "VerifyClientCertIfGiven"},
        "basic_auth_users": {"prometheus": "hunter2-plain"},
        "rate_limit": {"burst": 1},
    }))
    done = subprocess.run([*EXPORTER, f"--config.file={valid_config(tmp_path / 'c.yaml')}",
                           f"--web.config.file={web}", "--web.listen-address=127.0.0.1:0"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    for path in ("tls_server_config.cert_file", "tls_server_config.key_file", "tls_server_config.min_version",
                 "tls_server_config.client_ca_file", "basic_auth_users.prometheus", "rate_limit"):
        assert f"  - {path}: " in done.stderr, path
    assert "hunter2-plain" not in done.stderr
    assert "Traceback" not in done.stderr
    assert "listening" not in done.stderr


def test_missing_web_config_exits_2(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    done = subprocess.run([*EXPORTER, f"--config.file={valid_config(tmp_path / 'c.yaml')}", f"--web.config.file={web}"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert f"--web.config.file: {web}: no such file" in done.stderr
    assert "Traceback" not in done.stderr


def write_web(path: Path, pki: Pki, password: str) -> None:
    path.write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key),
                              "client_ca_file": str(pki.ca), "client_auth_type": "RequireAndVerifyClientCert"},
        "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}},
        "basic_auth_users": {"prometheus": bcrypt_hash(password)},
    }))


def status(url: str, context: ssl.SSLContext, password: str | None = None) -> int:
    request = urllib.request.Request(url)
    if password is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"prometheus:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_demo_serves_https_with_client_certs_and_basic_auth_and_reloads_on_sighup(tmp_path: Path, pki: Pki) -> None:
    web = tmp_path / "web.yml"
    write_web(web, pki, "first-pw")
    # The log goes to a file the test reads as it grows: a pipe read line by line cannot wait for
    # a message with a deadline.
    log_path = tmp_path / "exporter.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen([*EXPORTER, "--demo", "--web.listen-address=127.0.0.1:0", f"--web.config.file={web}"],
                                stderr=log_file, stdout=subprocess.DEVNULL)

    def logged(pattern: str, seconds: float) -> re.Match[str] | None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = re.search(pattern, log_path.read_text(errors="replace"))
            if found or proc.poll() is not None:
                return found
            time.sleep(0.1)
        return None

    try:
        found = logged(r"listening on (https://\S+)", 30)
        assert found, "the exporter did not start listening on https"
        url = found.group(1)
        client = ssl.create_default_context(cafile=pki.ca)
        client.load_cert_chain(pki.client_cert, pki.client_key)
        assert status(f"{url}/-/healthy", client) == 200
        assert status(f"{url}/metrics", client) == 401
        assert status(f"{url}/metrics", client, "first-pw") == 200
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            status(f"{url}/-/healthy", ssl.create_default_context(cafile=pki.ca))  # no client certificate

        write_web(web, pki, "second-pw")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while status(f"{url}/metrics", client, "second-pw") != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status(f"{url}/metrics", client, "first-pw") == 401
        web.write_text("basic_auth_users: {prometheus: not-a-hash}\n")
        proc.send_signal(signal.SIGHUP)
        assert logged("web config reload rejected", 20)
        assert status(f"{url}/metrics", client, "second-pw") == 200  # the bad file changed nothing
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    log = log_path.read_text(errors="replace")
    assert "web config reloaded" in log
    assert "web config reload rejected" in log
    assert "not-a-hash" not in log
