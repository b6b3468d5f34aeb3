"""Leases: a lock file that says which worker holds something right now, safe on a filesystem many
machines share. A leaf: it knows one lock file, nothing about runs or the store's layout.

A lock is taken by creating its file with O_EXCL (host, pid, a random token; the file's mtime is the
heartbeat). Another worker skips a lock that is fresh and takes over one that is stale (no heartbeat
for ``LEASE_TIMEOUT`` seconds, or its process on this host is gone). The store claims a run with it
(``store.claim``: only the holder writes or clears the run's directory) and reads it for the run's
state (``store.run_state``).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from largelr.errors import UserError
from largelr.store.entries import odd_entry

LEASE_TIMEOUT = 120.0  # seconds without a heartbeat after which a lease is stale and may be taken over
HEARTBEAT_EVERY = 15.0  # seconds between heartbeats (the lease file's mtime is touched)


class Lease:
    """A claim on one run directory, held by one process; ``heartbeat()`` keeps it fresh."""

    def __init__(self, path: Path, info: dict[str, Any]) -> None:
        self.path, self.info = path, info
        self._stop = None

    def held(self) -> bool:
        """Whether the lease file is still ours (not taken over after a missed heartbeat)."""
        other = read_lease(self.path)
        return other is not None and other.get("token") == self.info["token"]

    def heartbeat(self) -> None:
        with contextlib.suppress(FileNotFoundError):  # taken over: held() says so
            os.utime(self.path)

    def __enter__(self) -> Lease:
        """Touch the lease every HEARTBEAT_EVERY seconds from a daemon thread until exit."""
        import threading

        self._stop = threading.Event()

        def beat() -> None:
            while not self._stop.wait(HEARTBEAT_EVERY):
                self.heartbeat()

        threading.Thread(target=beat, name="largelr-lease", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._stop.set()
        self.release()

    def release(self) -> None:
        """Remove the lease file if it is still ours."""
        if self.held():
            self.path.unlink(missing_ok=True)


def read_lease(path: Path) -> dict[str, Any] | None:
    """The lease's JSON plus ``heartbeat`` (its mtime); None when there is no (complete, regular) lease file."""
    if odd_entry(path, "file"):  # a link, directory or fifo is never followed or opened
        return None
    try:
        info = json.loads(path.read_text())
        if not isinstance(info, dict):  # not a lease any worker wrote: treat it as being written
            return None
        info["heartbeat"] = path.stat().st_mtime
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    return info


def lease_is_stale(info: dict[str, Any], timeout: float = LEASE_TIMEOUT) -> bool:
    """No heartbeat for ``timeout`` seconds, or held by a process of this host that no longer exists."""
    import socket
    import time

    if time.time() - info["heartbeat"] > timeout:
        return True
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


def claim(path: Path, timeout: float = LEASE_TIMEOUT) -> Lease | None:
    """Take the lock file ``path`` (its directory exists) for this process: create it with O_EXCL, or
    take over a stale one.

    A stale lease is deleted only by the worker holding its takeover guard (``remove_stale``), after reading it
    again as stale under the guard; then every contender races for the O_EXCL create, which one wins. (Moving
    the stale file aside instead let a contender that had seen it stale move a newer claim aside while that was
    still being written, and delete it: two holders.)

    Returns:
        The lease, or None when another worker holds a fresh lease or is taking over a stale one.
    """
    import socket
    import time
    import uuid

    info = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex, "claimed": time.time()}
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            odd = odd_entry(path, "file")
            if odd:
                raise UserError(f"{path} {odd}: damaged; remove that entry to redo the run") from None
            if not may_take_over(path, timeout) or not remove_stale(path, timeout):
                return None
            continue
        try:
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(info))
                f.flush()
                os.fsync(f.fileno())
        except BaseException:  # e.g. a full disk: leave no empty lease that would block the run
            path.unlink(missing_ok=True)
            raise
        return Lease(path, info)
    return None


def may_take_over(path: Path, timeout: float = LEASE_TIMEOUT) -> bool:
    """Whether the lease file ``path`` is gone or stale. One that cannot be read (its holder is between the
    O_EXCL create and the write) counts as fresh until its mtime is ``timeout`` old."""
    import time

    held = read_lease(path)
    if held is None:  # being written, or just released
        time.sleep(0.05)
        held = read_lease(path)
    if held is None:
        try:
            return time.time() - path.stat().st_mtime >= timeout
        except FileNotFoundError:
            return True
    return lease_is_stale(held, timeout)


def remove_stale(path: Path, timeout: float = LEASE_TIMEOUT) -> bool:
    """Delete the stale lease ``path`` as the one worker holding its takeover guard (``.LEASE.takeover``, created
    with O_EXCL), after reading it again as stale under the guard. False when another worker holds the guard, or
    the lease is fresh again. A guard older than ``timeout`` (its worker died mid-takeover) is removed, and the
    run is left to the next claim."""
    import time

    guard = path.with_name(f".{path.name}.takeover")
    try:
        gfd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(OSError):
            if time.time() - guard.stat().st_mtime >= timeout:
                guard.unlink()
        return False
    try:
        if not may_take_over(path, timeout):
            return False
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(gfd)
        guard.unlink(missing_ok=True)
