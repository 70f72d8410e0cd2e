"""Command line: flags, logging, signals and exit codes. The only place that exits.

The running exporter (server, polling, reload, shutdown) is `exporter.service.Service`."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from exporter import __version__, logs
from exporter.azure.telemetry import ApiTelemetry
from exporter.config.schema import Config, ConfigError, load_config
from exporter.polling.permissions import check_permissions
from exporter.polling.sharding import apply_flags
from exporter.service import App, Service
from exporter.store.lifecycle import Lifecycle
from exporter.store.state_file import StateFileBusy
from exporter.web.auth import WebSecurity, load_web_security
from exporter.web.server import ListenAddressError, parse_listen_address, prefer_scrapes

if TYPE_CHECKING:
    from exporter.simulator import Simulator

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


LOG_FORMATS = ("logfmt", "json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="azure-backup-exporter",
        description="Prometheus exporter for Azure Backup jobs (Recovery Services vaults).",
    )
    parser.add_argument("--config.file", dest="config_file", default="config.yaml", help="YAML configuration file")
    parser.add_argument("--web.listen-address", dest="listen_address", default=":9984", help="host:port to serve on")
    parser.add_argument("--web.telemetry-path", dest="telemetry_path", default="/metrics", help="path of the metrics")
    parser.add_argument(
        "--web.config.file", dest="web_config_file", default=None, help="exporter-toolkit TLS/basic-auth file"
    )
    # Checked in main() with the other values, so that one message lists every problem.
    parser.add_argument("--log.level", dest="log_level", default="info", help=" | ".join(sorted(logs.LEVELS)))
    parser.add_argument("--log.format", dest="log_format", default="logfmt", help=" | ".join(LOG_FORMATS))
    parser.add_argument(
        "--once", action="store_true", help="poll every target once, print the exposition, exit 1 if any failed"
    )
    parser.add_argument(
        "--config.check", dest="config_check", action="store_true",
        help="try each Azure read the config needs once, print vault x read: ok, 403 (role) or error",
    )
    parser.add_argument(
        "--demo", action="store_true", help="monitor the embedded Azure simulator (no Azure account needed)"
    )
    parser.add_argument(
        "--shard.index", dest="shard_index", default=None, help="this replica's shard, 0..count-1 (overrides config)"
    )
    parser.add_argument(
        "--shard.count", dest="shard_count", default=None, help="replicas sharing the vaults (overrides config)"
    )
    parser.add_argument("--version", action="version", version=f"azure-backup-exporter {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problems: list[str] = []
    if args.log_level not in logs.LEVELS:
        problems.append(f"--log.level: {args.log_level!r} is not one of {', '.join(sorted(logs.LEVELS))}")
    if args.log_format not in LOG_FORMATS:
        problems.append(f"--log.format: {args.log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    logs.configure(args.log_level if args.log_level in logs.LEVELS else "info",
                   args.log_format if args.log_format in LOG_FORMATS else "logfmt")
    try:
        address = parse_listen_address(args.listen_address)
    except ListenAddressError as exc:
        problems.append(str(exc))
    if not args.telemetry_path.startswith("/") or args.telemetry_path in {"/", "/-/healthy", "/-/ready"}:
        problems.append(f"--web.telemetry-path: {args.telemetry_path!r} must be a path other than / and /-/*")
    web = WebSecurity()  # plain HTTP, no auth
    if args.web_config_file is not None:
        try:
            web = load_web_security(args.web_config_file)
        except ConfigError as exc:
            problems.extend(exc.problems)
    simulator, config = _load_config(args, problems)
    if problems or config is None:
        print("azure-backup-exporter: invalid configuration:", file=sys.stderr)  # noqa: T201
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    try:
        if args.config_check:
            return EXIT_OK if check_permissions(config, sys.stdout) else EXIT_FAILED
        if args.once:
            return _run_once(config)
        config_path = None if args.demo else Path(args.config_file)
        prefer_scrapes()
        code = _serve(config, address, args.telemetry_path, config_path, args, web=web)
    finally:
        if simulator is not None:
            simulator.stop()
    return _exit_without_waiting_on_azure(code)


def _load_config(args: argparse.Namespace, problems: list[str]) -> tuple[Simulator | None, Config | None]:
    """The config the flags ask for (and the demo's simulator, started); what is wrong into `problems`."""
    simulator = None
    config: Config | None = None
    if args.demo:
        from exporter.demo import start_demo  # noqa: PLC0415 - the simulator loads only for --demo

        simulator, config = start_demo()
    else:
        try:
            config = load_config(args.config_file)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if config is not None:
        try:
            config = apply_flags(config, args.shard_index, args.shard_count)
        except ConfigError as exc:
            problems.extend(exc.problems)
    return simulator, config


def _run_once(config: Config) -> int:
    app = App(config, ApiTelemetry())
    try:
        ok = app.poll_once()
    finally:
        app.close()
    sys.stdout.buffer.write(app.publisher.current.plain)
    sys.stdout.flush()
    return EXIT_OK if ok else EXIT_FAILED


def _serve(
    config: Config,
    address: tuple[str, int],
    telemetry_path: str,
    config_path: Path | None,
    args: argparse.Namespace,
    *,
    web: WebSecurity,
) -> int:
    def reload_config() -> Config:
        assert config_path is not None  # noqa: S101 - only passed when there is a file
        return apply_flags(load_config(config_path), args.shard_index, args.shard_count)

    try:
        service = Service.open(config, address, telemetry_path, web=web, web_config_path=args.web_config_file,
                               reload_config=None if config_path is None else reload_config, lifecycle=Lifecycle())
    except StateFileBusy as exc:
        log.error("%s: one state file per exporter (each replica its own)", exc)  # noqa: TRY400 - no traceback
        return EXIT_FAILED
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", address[0], address[1], exc)  # noqa: TRY400 - no traceback wanted
        return EXIT_FAILED

    stop, wake = threading.Event(), threading.Event()
    reload_requested = threading.Event()

    def on_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        wake.set()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        # The handler only raises a flag: the reload runs in the main loop, outside signal context.
        reload_requested.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_hup)

    service.start()
    while not stop.is_set():
        wake.wait(timeout=1.0)  # bounded, so a signal is never missed
        wake.clear()
        if reload_requested.is_set() and not stop.is_set():
            reload_requested.clear()
            if service.reload():
                log.info("config reloaded from %s", config_path)
    service.shutdown()
    return EXIT_OK


def _exit_without_waiting_on_azure(code: int) -> int:
    """Everything is flushed; a poll worker may still wait on Azure for up to request_timeout, and
    the interpreter would join it (ThreadPoolExecutor joins its workers at exit, daemon or not).
    Its answer would be dropped anyway, so then leave at once."""
    waiting = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    if not waiting:
        return code
    log.info("exiting without waiting for %d threads (requests to Azure in flight)", len(waiting))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
