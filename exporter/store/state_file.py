"""The state file on disk (SPEC §7): read once before the first poll, rewritten atomically after
each poll that changed the store, and set aside — never trusted, never deleted — when it is not
a state file this version can read.

One process at a time: `lock()` takes an exclusive `flock` on `<name>.lock` (two exporters writing
one file would each overwrite the other's counters, silently). The lock goes with the process,
whatever ends it; the lock file itself stays, holding the pid of its last owner.

A write is: the document to `<name>.tmp` in the same directory, fsync, `os.replace` onto `<name>`,
fsync of the directory. A `kill -9` at any point leaves either the previous file or the new one,
whole; a leftover `.tmp` is overwritten by the next write. A path ending in `.gz` is written
gzipped (level 1); either form is read, told apart by gzip's magic bytes.
"""

from __future__ import annotations

import fcntl
import gzip
import logging
import os
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from exporter.store.job_store import Store
from exporter.store.lifecycle import Lifecycle
from exporter.store.state_codec import StateFormatError, decode, encode

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
# Level 1: a third of level 6's time for most of its ratio on this JSON (ids, numbers, names).
GZIP_LEVEL = 1


class StateFileBusy(Exception):  # noqa: N818 - reads as what it is: the state file is busy
    """Another process holds the state file's lock."""


class StateFile:
    def __init__(
        self, path: Path, events: Lifecycle | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self._events = events
        self._clock = clock
        self._saved_revision: int | None = None
        # False after an untrusted file could not be set aside: writing would destroy it.
        self.writable = True
        self._lock_fd: int | None = None

    # -- owning -----------------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def lock(self) -> None:
        """Own the file for this process; StateFileBusy if another holds it. OSError if the lock
        file cannot be created (a read-only directory): the CLI then goes on without the lock."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StateFileBusy(f"state file {self.path} is in use by another process (pid {holder})") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    # -- reading ----------------------------------------------------------------------------------
    def load(self, store: Store) -> bool:
        """Restore `store` from the file; False (and a cold start) when there is none to trust."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            log.info("no state file at %s yet: cold start", self.path)
            return False
        except OSError as exc:
            self._set_aside(f"cannot be read ({exc.strerror or exc})")
            return False
        try:
            if data[:2] == GZIP_MAGIC:
                data = gzip.decompress(data)
            state, written_at, warnings = decode(data)
        except (OSError, EOFError, zlib.error) as exc:  # a truncated or damaged gzip stream
            self._set_aside(f"not a readable gzip file ({exc})")
            return False
        except StateFormatError as exc:
            self._set_aside(str(exc))
            return False
        for warning in warnings:
            log.warning("state file %s: %s", self.path, warning)
        store.restore(state)
        self._saved_revision = store.revision
        counted = sum(len(v.counted) for v in state.vaults.values())
        log.info(
            "state restored from %s (written %s, %.0f s ago): %d vaults, %d items, %d counted job ids",
            self.path,
            _utc(written_at),
            self._clock() - written_at,
            len(state.vaults),
            len(state.items),
            counted,
        )
        return True

    def _set_aside(self, why: str) -> None:
        stamp = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        try:
            self.path.rename(target)
        except OSError as exc:
            self.writable = False
            log.error(  # noqa: TRY400 - the reason is the message; a traceback adds nothing
                "state file %s is not usable (%s) and cannot be set aside (%s): starting cold, "
                "and not writing state in this run so as not to overwrite it",
                self.path,
                why,
                exc.strerror or exc,
            )
            return
        log.error("state file %s is not usable (%s): set aside as %s, starting cold", self.path, why, target)

    # -- writing ----------------------------------------------------------------------------------
    def save(self, store: Store, *, force: bool = False) -> bool:
        """Write the store's durable state if it changed since the last write (or `force`); True if written.

        Call it on the store's writer thread (the poller's, or after the poller stopped): the
        document is then one consistent cut of counters, counted ids and cursors.
        """
        revision = store.revision
        if not self.writable or (revision == self._saved_revision and not force):
            return False
        started = time.perf_counter()
        data = encode(store.durable(), self._clock())
        if self.path.name.endswith(".gz"):
            data = gzip.compress(data, GZIP_LEVEL, mtime=0)
        try:
            write_atomically(self.path, data)
        except OSError as exc:
            log.warning("writing state file %s failed: %s", self.path, exc)
            if self._events is not None:
                self._events.state_written(ok=False, seconds=time.perf_counter() - started)
            return False
        self._saved_revision = revision
        seconds = time.perf_counter() - started
        log.debug("state written to %s: %d bytes in %.3f s", self.path, len(data), seconds)
        if self._events is not None:
            self._events.state_written(ok=True, seconds=seconds)
        return True


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash at any point leaves the old file or the new one."""
    temp = path.with_name(f"{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    temp.replace(path)  # os.replace: atomic on POSIX, same directory so same filesystem
    # The rename is durable only once the directory entry is: fsync the directory too.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    except OSError as exc:  # some filesystems cannot fsync a directory; the file itself is synced
        log.debug("fsync of directory %s: %s", path.parent, exc)
    finally:
        os.close(directory)


def _utc(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):  # a finite but absurd time in a hand-edited file
        return f"{seconds:g}"
