"""The Dockerfile and the image it builds: stages, user, entrypoint, labels, hadolint, the build context
after .dockerignore, and the builder stage replayed into a venv that runs the demo exporter.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests.assets import DOCKERFILE, ROOT, assert_ok, run
from tests.binaries import require_binary


@dataclass
class Instruction:
    keyword: str
    arguments: str


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, split by FROM: comment lines dropped, then continuations joined."""
    lines = [line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    stages: list[list[Instruction]] = [[]]  # stage 0 holds the ARGs before the first FROM
    for line in text.splitlines():
        if not line.strip():
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append(Instruction(keyword.upper(), " ".join(arguments.split())))
    return stages


def last(stage: list[Instruction], keyword: str) -> str:
    values = [instruction.arguments for instruction in stage if instruction.keyword == keyword]
    assert values, f"no {keyword} in the stage"
    return values[-1]


def test_dockerfile_is_multi_stage_from_python_slim() -> None:
    global_args, *stages = dockerfile_stages()
    assert len(stages) >= 2
    defaults = dict(arg.arguments.split("=", 1) for arg in global_args if "=" in arg.arguments)
    images = [re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], last(s, "FROM")).split()[0] for s in stages]
    assert images == ["python:3.12-slim"] * len(stages)
    assert last(stages[0], "FROM").endswith(" AS builder")
    assert "pip wheel" in " ".join(i.arguments for i in stages[0] if i.keyword == "RUN")
    assert any(i.arguments.startswith("--from=builder /opt/venv ") for i in stages[-1] if i.keyword == "COPY")


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    user = last(dockerfile_stages()[-1], "USER")
    assert re.fullmatch(r"\d+(:\d+)?", user), f"USER {user} is not numeric"
    assert all(int(part) != 0 for part in user.split(":"))


def test_dockerfile_entrypoint_is_the_console_script_in_exec_form() -> None:
    runtime = dockerfile_stages()[-1]
    assert json.loads(last(runtime, "ENTRYPOINT")) == ["azure-backup-exporter"]
    assert json.loads(last(runtime, "CMD")) == ["--config.file=/etc/azure-backup-exporter/config.yaml"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert "azure-backup-exporter" in scripts


def test_dockerfile_exposes_and_health_checks_the_default_port() -> None:
    runtime = dockerfile_stages()[-1]
    assert last(runtime, "EXPOSE") == "9984"
    healthcheck = last(runtime, "HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert "urllib.request.urlopen('http://127.0.0.1:9984/-/healthy'" in command[2]


def test_dockerfile_has_oci_labels() -> None:
    labels = " ".join(i.arguments for i in dockerfile_stages()[-1] if i.keyword == "LABEL")
    for key in ("title", "description", "source", "licenses", "version", "revision"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_dockerfile_passes_hadolint() -> None:
    result = run(require_binary("hadolint"), "--failure-threshold", "info", DOCKERFILE)
    assert_ok(result)


def dockerignore_regex(pattern: str) -> str:
    """A .dockerignore pattern (Go's filepath.Match plus `**`) as a regular expression."""

    def translate(match: re.Match[str]) -> str:
        token = match.group()
        wildcards = {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
        if token in wildcards:
            return wildcards[token]
        if token.startswith("["):
            return "[^" + token[2:] if token[1] == "!" else token
        return re.escape(token)

    return re.sub(r"\*\*/|\*\*|\*|\?|\[[^\]]*\]|[^*?\[]+", translate, pattern)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for line in patterns:
        negated = line.startswith("!")
        regex = dockerignore_regex(line.removeprefix("!").rstrip("/"))
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def build_context() -> list[str]:
    """The repository files `docker build .` sends, after .dockerignore."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    files = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]
    return [f for f in files if not dockerignored(f, patterns)]


def test_dockerignore_matcher_follows_docker_rules() -> None:
    patterns = ["*", "!exporter/", "**/__pycache__"]
    assert dockerignored("tests/test_x.py", patterns)
    assert not dockerignored("exporter/cli.py", patterns)
    assert dockerignored("exporter/__pycache__/cli.cpython-312.pyc", patterns)
    assert dockerignored("exporter/cli.pyc", ["**/*.py[cod]"])
    assert not dockerignored("exporter/cli.py", ["**/*.py[cod]"])


def test_build_context_holds_what_the_builder_copies_and_no_more() -> None:
    context = build_context()
    builder = dockerfile_stages()[1]
    sources = [s for i in builder if i.keyword == "COPY" for s in i.arguments.split()[:-1]]
    assert sources == ["pyproject.toml", "README.md", "exporter"]
    for source in sources:
        assert any(f == source or f.startswith(f"{source}/") for f in context), f"{source} is not in the context"
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["readme"]
    assert readme in sources, "pyproject's readme must be copied for the wheel's metadata"
    assert not [f for f in context if f.startswith(("tests/", ".git", "build/", "deploy/"))]
    assert not [f for f in context if "__pycache__" in f]


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The builder stage replayed: the context copied, `pip wheel`, the wheel installed in a venv.

    Dependencies come from this interpreter's site-packages (a path in a .pth file) rather than
    PyPI, so that only the wheel build itself may reach the package index (for setuptools, unless
    setuptools and wheel are installed here already).
    """
    work = tmp_path_factory.mktemp("image")
    source = work / "src"
    for relative in build_context():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, source / relative)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    isolation = ["--no-build-isolation"] if find_spec("setuptools") and find_spec("wheel") else []
    assert_ok(
        run(
            *pip,
            "wheel",
            "--no-cache-dir",
            "--no-deps",
            "--wheel-dir",
            work / "wheels",
            *isolation,
            source,
            timeout=120,
        )
    )
    (wheel,) = (work / "wheels").glob("*.whl")
    venv = work / "venv"
    assert_ok(run(sys.executable, "-m", "venv", "--without-pip", venv))
    python = venv / "bin" / "python"
    assert_ok(run(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel, timeout=120))
    site_packages = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    (Path(site_packages) / "host-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_image_venv_holds_the_whole_package_from_the_wheel(image_venv: Path) -> None:
    # cwd elsewhere than the repository: `python -c` puts the cwd first on sys.path.
    result = run(image_venv / "bin" / "python", "-c", "import exporter; print(exporter.__file__)", cwd=image_venv)
    assert_ok(result)
    installed = Path(result.stdout.strip()).parent
    assert installed.is_relative_to(image_venv), f"imported {installed}, not the wheel's copy"
    built_from = image_venv.parent / "src" / "exporter"
    source_modules = {p.relative_to(built_from) for p in built_from.rglob("*.py")}
    installed_modules = {p.relative_to(installed) for p in installed.rglob("*.py")}
    assert source_modules <= installed_modules, f"missing from the wheel: {sorted(source_modules - installed_modules)}"


def test_image_entrypoint_runs(image_venv: Path) -> None:
    script = image_venv / "bin" / json.loads(last(dockerfile_stages()[-1], "ENTRYPOINT"))[0]
    assert script.is_file(), "the ENTRYPOINT console script is not installed"
    result = run(script, "--version", cwd=image_venv)
    assert_ok(result)
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "exporter" / "__init__.py").read_text(encoding="utf-8"))
    assert version
    assert version.group(1) in result.stdout + result.stderr


def test_image_healthcheck_passes_against_the_demo_exporter(image_venv: Path) -> None:
    healthcheck = json.loads(last(dockerfile_stages()[-1], "HEALTHCHECK").split(" CMD ", 1)[1])
    with socket.socket() as probe:  # a free port instead of 9984, which `make demo` may hold
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [arg.replace("127.0.0.1:9984", f"127.0.0.1:{port}") for arg in healthcheck]
    command[0] = str(image_venv / "bin" / command[0])
    exporter = subprocess.Popen(
        [image_venv / "bin" / "azure-backup-exporter", "--demo", f"--web.listen-address=127.0.0.1:{port}"],
        cwd=image_venv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while (result := run(*command, cwd=image_venv)).returncode != 0:
            assert exporter.poll() is None, exporter.communicate()[1].decode()
            assert time.monotonic() < deadline, f"health check still failing: {result.stderr}"
            time.sleep(0.2)
    finally:
        # Graceful shutdown is the CLI tests' business; this test only needs the process gone.
        exporter.kill()
        exporter.wait(timeout=10)
