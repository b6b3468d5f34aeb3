"""The Ray executor (``pip install 'largelr[ray]'``): each run is a Ray task with declared resources.

``--address HOST:PORT`` (or ``auto``) joins a running cluster, whose nodes must all have largelr
installed and see the results directory; without it a local Ray instance is started (dashboard off
unless ``--ray-dashboard``). A task whose worker or node dies is retried (``--max-retries``) and
resumes from the run's checkpoint; a run that raises is recorded as failed (traceback in its
directory), not retried.

Joining a cluster is bounded: its head must answer a gRPC (HTTP/2) handshake within CONNECT_TIMEOUT
seconds, checked before anything is written, and ``ray.init`` must return within INIT_TIMEOUT seconds;
either failure is one ``error:`` line. ``ray.init(address=...)`` runs on a helper thread, so SIGTERM stops
the driver at once while it connects (Ray's own handler waits for its retry loop: up to a minute per
retry). A local instance is started on the main thread: Ray ties its processes to the starting thread's
life (PR_SET_PDEATHSIG), so started from a helper thread they die when it ends.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from largelr import store
from largelr.config import RunConfig
from largelr.errors import UserError
from largelr.sweep.executors.base import EXECUTORS, check_resources, resources_options
from largelr.sweep.worker import OnDone, Outcome, run_queued

OPTIONS = argparse.ArgumentParser(add_help=False)
_g = OPTIONS.add_argument_group("ray executor")
_g.add_argument("--address", help="a Ray cluster to join: HOST:PORT or auto (default: start a local instance)")
_g.add_argument("--max-retries", type=int, default=3, help="retries of a run whose worker or node is lost (default 3)")
_g.add_argument("--ray-dashboard", action="store_true", help="start the dashboard with a local instance")


CONNECT_TIMEOUT = 10.0  # seconds for --address HOST:PORT to answer a handshake (Ray itself retries for minutes)
INIT_TIMEOUT = 120.0  # seconds for ray.init to join a cluster whose head answered
# An HTTP/2 client's connection preface and an empty SETTINGS frame: a gRPC server (Ray's head) answers SETTINGS.
HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"

QUIET = {"log_to_driver": False, "configure_logging": False}  # ray.init: no Ray log lines in the sweep's output

log = logging.getLogger(__name__)


def check(opts: argparse.Namespace) -> None:
    """Everything about the options that can be known before anything is written: Ray installed, the
    resources, a HOST:PORT address whose head answers within CONNECT_TIMEOUT seconds, and then the
    connection to the cluster (joined here, within INIT_TIMEOUT seconds, so that a SIGTERM or a failure
    while connecting leaves nothing behind; a local instance is started by ``run_ray``)."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise UserError("--executor ray needs Ray: pip install 'largelr[ray]'")
    check_resources(opts)
    if opts.max_retries < 0:
        raise UserError(f"--max-retries must be >= 0, got {opts.max_retries}")
    if opts.address:
        host, port = parse_address(opts.address)
        if host is not None:
            probe(host, port, opts.address)
        connect(opts.address, **QUIET)


def parse_address(address: str) -> tuple[str | None, int]:
    """(host, port) of ``HOST:PORT`` or ``ray://HOST:PORT``; (None, 0) for ``auto``; UserError otherwise.

    >>> parse_address("10.0.0.2:6379"), parse_address("ray://head:10001"), parse_address("auto")
    (('10.0.0.2', 6379), ('head', 10001), (None, 0))
    """
    if address == "auto":
        return None, 0
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--address must be HOST:PORT (e.g. 10.0.0.2:6379), ray://HOST:PORT or auto, got {address!r}")
    return host, int(port)


def probe(host: str, port: int, address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """A TCP connection to the cluster's head and an HTTP/2 handshake (the head serves gRPC), within
    ``timeout`` seconds in all, so a wrong address fails in seconds, not after minutes of Ray's retries:
    nothing listening, a host that does not answer, or a port where something else listens. With
    ``RAY_USE_TLS`` the handshake would be TLS: only the TCP connection is checked."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    try:
        conn = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        why = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise UserError(
            f"cannot reach the Ray cluster at {address}: {why} (within {timeout:g} s); "
            "is `ray start --head` running there?"
        ) from None
    answer = b""
    with conn:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return
        try:
            conn.sendall(HTTP2_HELLO)
            while len(answer) < 9 and (left := deadline - time.monotonic()) > 0:
                conn.settimeout(left)
                chunk = conn.recv(9 - len(answer))
                if not chunk:
                    break
                answer += chunk
        except OSError:  # timed out, or reset: not a gRPC server
            pass
    if answer[3:4] != b"\x04":  # an HTTP/2 server's first frame is SETTINGS (type 4)
        raise UserError(
            f"{address} accepts connections but does not answer as a Ray cluster's head (no gRPC handshake "
            f"within {timeout:g} s); give the port of `ray start --head --port`"
        )


def connect(address: str, **kwargs: object) -> None:
    """``ray.init(address, **kwargs)`` on a helper thread, waited for at most INIT_TIMEOUT seconds: this
    thread keeps the default SIGTERM action (the driver stops at once; no run is begun before the
    connection) and gives up with a UserError instead of Ray's minutes of retries. Only to join a running
    cluster: the processes of a local instance started from a helper thread die when the thread ends."""
    import ray

    if ray.is_initialized():
        return
    failed: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(address=address, **kwargs)
        except BaseException as e:  # handed to the waiting thread
            failed.append(e)

    def not_about_sigterm(record: logging.LogRecord) -> bool:  # Ray warns that it set no handler: wanted here
        return not record.getMessage().startswith("SIGTERM handler is not set")

    where = f"the Ray cluster at {address}"
    log.info("connecting to %s (giving up after %g s)", where, INIT_TIMEOUT)
    ray_log = logging.getLogger("ray._private.worker")
    ray_log.addFilter(not_about_sigterm)
    thread = threading.Thread(target=init, name="ray-init", daemon=True)
    thread.start()
    thread.join(INIT_TIMEOUT)
    ray_log.removeFilter(not_about_sigterm)
    if thread.is_alive():
        raise UserError(f"cannot connect to {where}: ray.init did not return within {INIT_TIMEOUT:g} s")
    if failed and isinstance(failed[0], ConnectionError):
        raise UserError(f"cannot connect to {where}: {' '.join(str(failed[0]).split())}") from None
    if failed:
        raise failed[0]


@EXECUTORS.register(
    "ray", options=[resources_options(), OPTIONS], check=check, help="a Ray cluster (--address) or local instance"
)
def run_ray(configs: Sequence[RunConfig], study: Path, opts: argparse.Namespace, on_done: OnDone) -> None:
    check(opts)  # joins the cluster at --address (when the sweep's own check has not yet)
    import ray

    if not opts.address:
        ray.init(include_dashboard=opts.ray_dashboard, **QUIET)
    try:
        task = ray.remote(
            num_cpus=opts.cpus_per_run,
            num_gpus=opts.gpus_per_run,
            max_retries=opts.max_retries,
            retry_exceptions=False,
        )(run_queued)
        threads = max(1, math.floor(opts.cpus_per_run))
        refs = {task.remote(str(store.queue_config(study, cfg)), str(study), threads): cfg for cfg in configs}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            cfg = refs.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except ray.exceptions.RayError as e:  # the worker was lost more than --max-retries times
                outcome = Outcome("error", message=f"{type(e).__name__}: {str(e).splitlines()[0]}")
            on_done(cfg, outcome)
    finally:
        ray.shutdown()
