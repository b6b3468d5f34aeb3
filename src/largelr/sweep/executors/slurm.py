"""The Slurm executor (``pip install 'largelr[slurm]'``, via submitit): one job array per sweep.

Each run's config is written into the store (``_queue/``) and the array task reads it there, so the
results directory must be on a filesystem every node sees. Jobs requeue themselves at time-out
(submitit's checkpointing hook, after the run wrote a checkpoint) and resume from the checkpoint when
requeued or preempted. The driver watches the store and ``squeue`` until every run has ended.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from largelr import store
from largelr.config import RunConfig
from largelr.errors import UserError
from largelr.sweep.executors.base import EXECUTORS, check_resources, resources_options
from largelr.sweep.worker import OnDone, Outcome

OPTIONS = argparse.ArgumentParser(add_help=False)
_g = OPTIONS.add_argument_group("slurm executor")
_g.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
_g.add_argument("--time", type=int, default=60, help="time limit per run in minutes (default 60)")
_g.add_argument("--mem", help="memory per run, e.g. 8G (default: the partition's default)")
_g.add_argument("--array-parallelism", type=int, default=256, help="array tasks running at once (default 256)")
_g.add_argument(
    "--sbatch", action="append", default=[], metavar="KEY=VALUE", help="extra sbatch option, e.g. account=abc"
)


def check(opts: argparse.Namespace) -> dict[str, str]:
    """Everything about the options that can be known before anything is written: submitit installed,
    Slurm's commands on PATH, the resources and limits; returns the extra sbatch options."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("submitit") is None:
        raise UserError("--executor slurm needs submitit: pip install 'largelr[slurm]'")
    absent = [c for c in ("sbatch", "srun", "squeue") if shutil.which(c) is None]
    if absent:
        raise UserError(
            f"--executor slurm needs Slurm's {', '.join(absent)} on PATH (not found: is this a Slurm login node?)"
        )
    check_resources(opts)
    if opts.gpus_per_run != int(opts.gpus_per_run):
        raise UserError(f"--gpus-per-run must be a whole number with Slurm, got {opts.gpus_per_run}")
    if opts.time <= 0 or opts.array_parallelism <= 0:
        raise UserError(f"--time and --array-parallelism must be > 0, got {opts.time} and {opts.array_parallelism}")
    extra = {}
    for item in opts.sbatch:
        if "=" not in item:
            raise UserError(f"--sbatch {item!r} must look like key=value, e.g. account=abc")
        key, value = item.split("=", 1)
        extra[key.strip().lstrip("-").replace("-", "_")] = value
    return extra


@EXECUTORS.register("slurm", options=[resources_options(), OPTIONS], check=check, help="a Slurm job array via submitit")
def run_slurm(configs: Sequence[RunConfig], study: Path, opts: argparse.Namespace, on_done: OnDone) -> None:
    extra = check(opts)
    import submitit

    params = {
        "time": opts.time,
        "cpus_per_task": max(1, math.ceil(opts.cpus_per_run)),
        "array_parallelism": opts.array_parallelism,
        "additional_parameters": extra,
    }
    if opts.partition:
        params["partition"] = opts.partition
    if opts.mem:
        params["mem"] = opts.mem
    if opts.gpus_per_run:
        params["gpus_per_node"] = int(opts.gpus_per_run)
    executor = submitit.SlurmExecutor(folder=study / "_slurm" / "%j")
    executor.update_parameters(**params)
    paths = [str(store.queue_config(study, cfg)) for cfg in configs]
    threads = max(1, math.floor(opts.cpus_per_run))
    try:
        from largelr.sweep.executors.slurm_task import SlurmRun  # imports submitit

        jobs = executor.map_array(SlurmRun(), paths, [str(study)] * len(paths), [threads] * len(paths))
    except Exception as e:  # sbatch missing or refused
        raise UserError(f"could not submit to Slurm: {str(e).strip().splitlines()[-1]}") from None
    array_id = jobs[0].job_id.split("_")[0]
    _watch(configs, study, array_id, on_done, since=time.time() - 1.0)


def _watch(configs: Sequence[RunConfig], study: Path, array_id: str, on_done: OnDone, since: float) -> None:
    """Report each run as its directory becomes done or failed; when the array has left the queue,
    report the runs that never finished."""
    waiting = {store.run_dir(study, cfg).name: cfg for cfg in configs}
    while waiting:
        alive = bool(subprocess.run(["squeue", "-h", "-j", array_id], capture_output=True, text=True).stdout.strip())
        for rid in list(waiting):
            state = store.run_state(study / rid)
            if state == "failed" and (study / rid / store.FAILED).stat().st_mtime < since:
                state = "incomplete"  # failed in an earlier sweep; this array retries it
            if state == "done":
                on_done(waiting.pop(rid), Outcome("done", store.load_run(study / rid)["result"], trained=True))
            elif state == "running" and not alive:  # trained by a worker outside this array
                on_done(waiting.pop(rid), Outcome("busy", message="being trained by another worker"))
            elif state == "failed" or not alive:
                text = (study / rid / store.FAILED).read_text().strip().splitlines() if state == "failed" else []
                msg = text[-1] if text else f"Slurm job {array_id} ended without finishing it (logs: {study}/_slurm)"
                on_done(waiting.pop(rid), Outcome("error", message=msg))
        time.sleep(1.0)
