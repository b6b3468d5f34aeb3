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
from largelr.sweep.executors import EXECUTORS, resources_options
from largelr.sweep.worker import OnDone, Outcome, run_queued

OPTIONS = argparse.ArgumentParser(add_help=False)
_g = OPTIONS.add_argument_group("ray executor")
_g.add_argument("--address", help="a Ray cluster to join: HOST:PORT or auto (default: start a local instance)")
_g.add_argument("--max-retries", type=int, default=3, help="retries of a run whose worker or node is lost (default 3)")
_g.add_argument("--ray-dashboard", action="store_true", help="start the dashboard with a local instance")


@EXECUTORS.register("ray", options=[resources_options(), OPTIONS], help="a Ray cluster (--address) or local instance")
def run_ray(configs: Sequence[RunConfig], study: Path, opts: argparse.Namespace, on_done: OnDone) -> None:
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'largelr[ray]'") from None
    if opts.cpus_per_run <= 0 or opts.gpus_per_run < 0 or opts.max_retries < 0:
        raise UserError("--cpus-per-run must be > 0, --gpus-per-run and --max-retries >= 0")
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
