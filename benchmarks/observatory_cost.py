"""What the dynamics observatory (``eval.observatory=True``) costs, relative to training, on the quickstart config.

Trains the quickstart configuration (Double MNIST rho 0.99, 10,000 training images, default MLP, SGD at LR 0.1,
4,000 steps of batch 100, a history row every 500 steps and the default 1,000-sample dynamics subset) with the
observatory off and on at its default frequency (``eval.observatory_every`` = 1,000 steps: 5 measurements),
alternating off / on ``--repeats`` times in this one process, so both see the same machine load. Target (issue
23): the observatory's time <= 20% of the training time.

Printed per variant (best of the repeats): the training steps' time (``TrainOutcome.train_seconds``), the
evaluation time (history rows, ``eval_seconds``) and the whole ``train()`` call; then two ratios:
(eval_on - eval_off) / train_off, the observatory's own time over the training steps' time, and
wall_on / wall_off - 1, what the whole call grows by. The same two ratios in CPU time of this process
(``time.process_time``; the evaluation's CPU time is that spent in the loop's ``evaluate_history``, the history
metrics with the dynamics, and ``Observatory.measure``), which other processes on a shared machine disturb far
less than the wall clock: the verdict is on the CPU-time ratios. One torch thread, as a quickstart sweep job uses
(``LARGELR_THREADS`` overrides).

    nice -n 10 .venv/bin/python benchmarks/observatory_cost.py            # about 2 minutes on 2 idle cores
"""

from __future__ import annotations

import argparse
import os
import time

TARGET = 0.20
OVERRIDES = [
    "data.name='double_mnist'",
    "data.rho=0.99",
    "data.n_train=10000",
    "data.n_val=2000",
    "data.n_test=2000",
    "optim.lr=0.1",
    "train.steps=4000",
    "train.until='budget'",
    "train.eval_every=500",
    "train.fail_after=1000",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("LARGELR_THREADS", "1")
    import largelr.train
    from largelr.config import RunConfig, apply_overrides
    from largelr.data import build_dataset
    from largelr.run import setup_torch
    from largelr.train import train

    setup_torch()
    eval_cpu = [0.0]

    def timed(fn):
        def wrapped(*args, **kwargs):
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                eval_cpu[0] += time.process_time() - t

        return wrapped

    largelr.train.evaluate_history = timed(largelr.train.evaluate_history)  # the history row and the dynamics
    largelr.train.Observatory.measure = timed(largelr.train.Observatory.measure)
    base = apply_overrides(RunConfig(), OVERRIDES)
    data = build_dataset(base.data, seed=base.seeds.data)
    variants = {"off": base, "on": apply_overrides(base, ["eval.observatory=True"])}
    best: dict[str, dict[str, float]] = {}
    for rep in range(args.repeats):
        for name, cfg in variants.items():
            eval_cpu[0] = 0.0
            t0, c0 = time.perf_counter(), time.process_time()
            out = train(cfg, data)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            m = {"train": out.train_seconds, "eval": out.eval_seconds, "wall": wall,
                 "train_cpu": cpu - eval_cpu[0], "eval_cpu": eval_cpu[0], "cpu": cpu}  # fmt: skip
            rows = sum("obs/sharpness" in r for r in out.history)
            print(f"repeat {rep} {name:>3}: train {m['train']:.2f} s, eval {m['eval']:.2f} s, wall {wall:.2f} s; "
                  f"CPU: train {m['train_cpu']:.2f} s, eval {m['eval_cpu']:.2f} s, all {cpu:.2f} s "
                  f"({rows} observatory rows)", flush=True)  # fmt: skip
            best[name] = {k: min(v, best.get(name, m)[k]) for k, v in m.items()}
    off, on = best["off"], best["on"]
    own = (on["eval"] - off["eval"]) / off["train"]
    grow = on["wall"] / off["wall"] - 1
    own_cpu = (on["eval_cpu"] - off["eval_cpu"]) / off["train_cpu"]
    grow_cpu = on["cpu"] / off["cpu"] - 1
    for unit, keys in (("wall", ("train", "eval", "wall")), ("CPU", ("train_cpu", "eval_cpu", "cpu"))):
        print(f"best of {args.repeats} ({unit}): " + "; ".join(
            f"{v} train {best[v][keys[0]]:.2f} s eval {best[v][keys[1]]:.2f} s all {best[v][keys[2]]:.2f} s"
            for v in ("off", "on")))  # fmt: skip
    print(f"wall clock: observatory time / training time = {own:.1%}; train() grows by {grow:.1%}")
    print(
        f"CPU time: observatory time / training time = {own_cpu:.1%}; train() grows by {grow_cpu:.1%} "
        f"(target <= {TARGET:.0%}: {'met' if max(own_cpu, grow_cpu) <= TARGET else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
