"""How much the end-of-run evaluation costs relative to training, per metric set.

Trains the quickstart-like configuration (Double MNIST rho=0.99, 10,000 training samples, default
MLP, SGD lr=0.1, 3000 steps of batch 100) and times ``evaluate`` on the trained model. Each metric
set is measured in its own fresh process that also does its own training, so one-time costs
(imports such as captum's, first-use kernel setup) land where a real run pays them and training
and evaluation share the same machine load. Targets: "default" <= 20% and "full" <= 50% of the
training time.

Each process uses one torch thread, as the quickstart sweep's jobs do (``LARGELR_THREADS`` overrides).
Training time varies with machine load, so compare ratios from the same invocation.

Run (about a minute on 2 CPU cores)::

    .venv/bin/python benchmarks/eval_cost.py            # both sets, one process each
    .venv/bin/python benchmarks/eval_cost.py --set full # one set in this process
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SETS = ("default", "full")
TARGET = {"default": 0.20, "full": 0.50}
OVERRIDES = [
    "data.name='double_mnist'",
    "data.rho=0.99",
    "data.n_train=10000",
    "model.name='mlp'",
    "optim.name='sgd'",
    "optim.lr=0.1",
    "train.steps=3000",
    "train.until='budget'",
    "train.eval_every=1000",
]


def measure(metric_set: str) -> dict:
    """Train once and evaluate ``metric_set``; seconds for both and per metric."""
    import torch

    from largelr.config import RunConfig, apply_overrides
    from largelr.data import build_dataset
    from largelr.evaluate import evaluate
    from largelr.run import setup_torch
    from largelr.train import train

    # the quickstart sweep (--jobs 2 on 2 cores) runs each job on one thread; override to compare
    os.environ.setdefault("LARGELR_THREADS", "1")
    setup_torch()
    cfg = apply_overrides(RunConfig(), [*OVERRIDES, f"eval.metrics=[{metric_set!r}]"])
    data = build_dataset(cfg.data, seed=cfg.seeds.data)
    outcome = train(cfg, data)
    t0 = time.perf_counter()
    metrics, timings = evaluate(outcome.model, data, cfg.eval, seed=cfg.seeds.data)
    eval_s = time.perf_counter() - t0
    return {
        "set": metric_set,
        "threads": torch.get_num_threads(),
        "train_s": outcome.train_seconds,
        "eval_s": eval_s,
        "ratio": eval_s / outcome.train_seconds,
        "per_metric_s": {k: round(v, 3) for k, v in sorted(timings.items(), key=lambda kv: -kv[1])},
        "test_acc": metrics.get("test/acc"),
    }


def report(r: dict) -> str:
    ok = "ok" if r["ratio"] <= TARGET[r["set"]] else "OVER TARGET"
    return (
        f"{r['set']:>8}: train {r['train_s']:.1f} s, eval {r['eval_s']:.2f} s, "
        f"ratio {100 * r['ratio']:.1f}% (target <= {100 * TARGET[r['set']]:.0f}%: {ok}), "
        f"threads={r['threads']}\n          per metric: {r['per_metric_s']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=SETS, help="measure one set in this process (default: each in a new one)")
    parser.add_argument("--json", action="store_true", help="print the raw result as JSON (with --set)")
    args = parser.parse_args()
    if args.set:
        r = measure(args.set)
        print(json.dumps(r) if args.json else report(r))
        return
    for s in SETS:
        out = subprocess.run(
            [sys.executable, __file__, "--set", s, "--json"], check=True, capture_output=True, text=True
        ).stdout
        print(report(json.loads(out.strip().splitlines()[-1])), flush=True)


if __name__ == "__main__":
    main()
