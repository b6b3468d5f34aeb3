"""The Ray executor (``pip install 'largelr[ray]'``): each run is a Ray task with declared resources.

``--address HOST:PORT`` (or ``auto``) joins a running cluster, whose nodes must all have largelr
installed and see the results directory; without it a local Ray instance is started (dashboard off
unless ``--ray-dashboard``). A task whose worker or node dies is retried (``--max-retries``) and
resumes from the run's checkpoint; a run that raises is recorded as failed (traceback in its
directory), not retried.
"""

from __future__ import annotations

import argparse
import math
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


CONNECT_TIMEOUT = 10.0  # seconds to reach --address HOST:PORT before giving up (Ray itself retries for minutes)


def check(opts: argparse.Namespace) -> None:
    """Everything about the options that can be known before anything is written: Ray installed, the
    resources, and a HOST:PORT address that accepts a connection within CONNECT_TIMEOUT seconds."""
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
    """A TCP connection to the cluster's head, so a wrong address fails in seconds, not after minutes."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        why = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise UserError(
            f"cannot reach the Ray cluster at {address}: {why} (within {timeout:g} s); "
            "is `ray start --head` running there?"
        ) from None


@EXECUTORS.register(
    "ray", options=[resources_options(), OPTIONS], check=check, help="a Ray cluster (--address) or local instance"
)
def run_ray(configs: Sequence[RunConfig], study: Path, opts: argparse.Namespace, on_done: OnDone) -> None:
    check(opts)
    import ray

    kwargs = {"log_to_driver": False, "configure_logging": False}
    try:
        if opts.address:
            ray.init(address=opts.address, **kwargs)
        else:
            ray.init(include_dashboard=opts.ray_dashboard, **kwargs)
    except ConnectionError as e:
        raise UserError(f"cannot reach the Ray cluster at {opts.address}: {e}") from None
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
