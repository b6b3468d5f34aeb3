"""Wall time of the same 8-run sweep with 1 and 2 local workers, with Ray on 2 CPUs and with Slurm
on 2 CPUs; the speed-up of 2 workers and the overhead per run of Ray and Slurm.

The sweep is the quickstart study's first 8 runs (4 learning rates x 2 seeds, MLP on Double MNIST,
up to 4,000 steps); ``--set`` shrinks it (e.g. ``--set train.steps=1000``). Every run uses one torch
thread. Ray is a local instance started by the executor (2 CPUs, 1 per run); Slurm is a single-node
cluster started here as root (``tests/clusters.py``: munged, slurmctld, slurmd, 2 CPUs), skipped with
the reason where it cannot start. Target: 2 workers >= 1.7x faster than 1 on 2 cores.

Overhead per run = (wall time of the executor - wall time of 2 local workers) x 2 / 8: the extra
worker-seconds each run costs (scheduling, process start, imports). Timings on a shared machine vary
with its load; compare ratios from one invocation.

Run (about 10 minutes at quickstart size on 2 idle cores)::

    nice python benchmarks/sweep_scaling.py [--set train.steps=1000] [--skip ray] [--skip slurm]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--skip", action="append", default=[], choices=["ray", "slurm"])
    args = parser.parse_args()
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a loopback instance of our own (as tests/clusters.py)

    import torch

    from largelr.sweep import load_experiment, run_sweep

    configs = [c for c in load_experiment("quickstart", args.overrides).configs if c.optim.lr < 1.0][:8]
    assert len(configs) == 8
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="sweep_scaling_"))
    walls: dict[str, float] = {}

    def timed(name: str, executor: str, **opts) -> None:
        t0 = time.perf_counter()
        summary = run_sweep(configs, root / name, executor=executor, progress=False, **opts)
        walls[name] = time.perf_counter() - t0
        ok = sum(summary.statuses.values())
        print(f"{name:16s} {walls[name]:8.1f} s  ({ok} runs, {len(summary.errors)} errors)", flush=True)

    print(f"8 runs, overrides {args.overrides or 'none'}, load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    timed("local, 1 worker", "local", jobs=1)
    timed("local, 2 workers", "local", jobs=2)
    if "ray" not in args.skip:
        timed("ray, 2 CPUs", "ray", cpus_per_run=1.0)
    if "slurm" not in args.skip:
        from clusters import Unavailable, start_slurm

        try:
            cluster = start_slurm(root / "slurm-cluster")
        except Unavailable as e:
            print(f"slurm: skipped ({e})")
        else:
            os.environ["SLURM_CONF"] = str(cluster.conf)
            try:
                timed("slurm, 2 CPUs", "slurm", cpus_per_run=1.0, time=60)
            finally:
                cluster.stop()
    base = walls["local, 2 workers"]
    print(f"speed-up, 2 local workers vs 1: {walls['local, 1 worker'] / base:.2f}x (target >= 1.7x)")
    for name in ("ray, 2 CPUs", "slurm, 2 CPUs"):
        if name in walls:
            speedup = walls["local, 1 worker"] / walls[name]
            overhead = (walls[name] - base) * 2 / 8
            print(f"{name}: speed-up vs 1 local worker {speedup:.2f}x; overhead per run {overhead:+.1f} s")
    print(f"load average at the end {os.getloadavg()[0]:.1f}; results under {root}")


if __name__ == "__main__":
    main()
