"""Command line: flags, logging, wiring, signals and exit codes. The only place that exits."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from exporter import __version__, logs
from exporter.app import App
from exporter.azure.telemetry import ApiTelemetry
from exporter.config import Config, ConfigError, load_config
from exporter.server import ExporterHTTPServer, ListenAddressError, parse_listen_address
from exporter.webconfig import WebSecurity, load_web_security

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# SIGTERM lets the response in flight finish, for at most this long.
DRAIN_SECONDS = 5.0


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
    parser.add_argument("--log.level", dest="log_level", default="info", choices=sorted(logs.LEVELS))
    parser.add_argument("--log.format", dest="log_format", default="logfmt", choices=["logfmt", "json"])
    parser.add_argument(
        "--once", action="store_true", help="poll every target once, print the exposition, exit 1 if any failed"
    )
    parser.add_argument(
        "--demo", action="store_true", help="monitor the embedded Azure simulator (no Azure account needed)"
    )
    parser.add_argument("--version", action="version", version=f"azure-backup-exporter {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level, args.log_format)
    problems: list[str] = []
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
    if problems or config is None:
        print("azure-backup-exporter: invalid configuration:", file=sys.stderr)  # noqa: T201
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    try:
        if args.once:
            return _run_once(config)
        return _serve(config, address, args.telemetry_path, None if args.demo else Path(args.config_file),
                      web=web, web_config_path=args.web_config_file)
    finally:
        if simulator is not None:
            simulator.stop()


def _run_once(config: Config) -> int:
    app = App(config, ApiTelemetry())
    try:
        ok = app.poller.poll_once()
    finally:
        app.close()
    sys.stdout.buffer.write(app.publisher.current.plain)
    sys.stdout.flush()
    return EXIT_OK if ok else EXIT_FAILED


def _serve(config: Config, address: tuple[str, int], telemetry_path: str, config_path: Path | None,
           *, web: WebSecurity, web_config_path: str | None) -> int:
    telemetry = ApiTelemetry()
    app = App(config, telemetry)
    try:
        server = ExporterHTTPServer(address, lambda: app.publisher.current, telemetry_path,
                                    tls=web.tls, authenticator=web.authenticator, response_headers=web.response_headers)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", address[0], address[1], exc)  # noqa: TRY400 - no traceback wanted
        app.close()
        return EXIT_FAILED
    server.serve_in_thread()
    log.info("listening on %s (version %s)", server.url, __version__)
    if web_config_path is not None:
        log.info("web config %s: TLS %s, basic auth %s", web_config_path,
                 "on" if web.tls else "off", "on" if web.authenticator else "off")

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

    poll_stop, poll_thread = _start_polling(app)
    while not stop.is_set():
        wake.wait(timeout=1.0)  # bounded, so a signal is never missed
        wake.clear()
        if reload_requested.is_set() and not stop.is_set():
            reload_requested.clear()
            if web_config_path is not None:
                _reload_web(server, web_config_path)
            if config_path is None:
                log.info("SIGHUP ignored: --demo has no config file to reload")
                continue
            try:
                new_config = load_config(config_path)
            except ConfigError as exc:
                log.error("config reload rejected, keeping the running config: %s", "; ".join(exc.problems))  # noqa: TRY400
                continue
            poll_stop.set()
            poll_thread.join()
            app.close()
            app = App(new_config, telemetry, store=app.store, publisher=app.publisher)
            poll_stop, poll_thread = _start_polling(app)
            log.info("config reloaded from %s", config_path)

    log.info("shutting down")
    poll_stop.set()
    app.close()  # aborts retries and backoffs in flight
    server.shutdown()
    server.drain(DRAIN_SECONDS)
    server.server_close()
    poll_thread.join(timeout=DRAIN_SECONDS)
    return EXIT_OK


def _reload_web(server: ExporterHTTPServer, path: str) -> None:
    """New certificates, users and headers apply to the next connection; a bad file changes nothing."""
    try:
        web = load_web_security(path)
    except ConfigError as exc:
        log.error("web config reload rejected, keeping the running one: %s", "; ".join(exc.problems))  # noqa: TRY400
        return
    if (web.tls is None) != (server.tls is None):
        log.error("web config reload rejected: TLS cannot be switched on or off while running; restart instead")
        return
    server.tls, server.authenticator, server.response_headers = web.tls, web.authenticator, web.response_headers
    log.info("web config reloaded from %s", path)


def _start_polling(app: App) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=app.poller.run, args=(stop,), name="poller", daemon=True)
    thread.start()
    return stop, thread
