"""Does ``largelr suggest-lr`` find the largest LR that trains, at a fraction of a sweep's steps? (issue 23)

For each configuration below it runs ``suggest_lr`` and a full LR sweep (one seed, the log grid with ratio
sqrt 3 that the ladder uses, ``largelr.suggest.grid_lr``: 0.001 * sqrt(3)**k, from k = 4 (0.009) up (the CNN:
k = 6, 0.027), extended until its two largest LRs do not train), and prints one table
row: the suggestion, the largest LR of the ladder that trained, the largest LR of the sweep that trains, the
LR with the best acc_BC, how many grid steps (ratio sqrt 3) separate the suggestion from the sweep's largest,
and the probe's optimizer steps against the sweep's.

"Trains" is ``largelr.suggest.did_train`` for both: the run neither diverged (non-finite loss) nor failed (the
training loop's rule: train accuracy <= 1.25 x chance at an evaluation from ``train.fail_after`` on, or at the
last step), and its last full-train loss is at most its initial one. A probe applies it after its own few
hundred steps, a sweep run after the run's full budget.

Acceptance (issue 23): |log_sqrt3(suggested / sweep's largest that trains)| <= 1 (within one grid step) and
probe steps <= 10% of the sweep's steps, on Double MNIST with the default MLP, two other procedural datasets
and the CNN. Sizes (ours, to fit about 40 CPU-minutes on 2 shared cores): 2,000 training images and a
3,000-step budget for the MLPs; the CNN (3 blocks with BatchNorm as by default, but 8 channels in the first
block instead of 32, a 16th of the convolutions' cost: at width 32 it costs about 25x the MLP per sample) on
1,000 training images and 1,500 steps. Resumable: the sweeps are ordinary run directories under ``--out`` and
each suggestion is cached there, so an interrupted invocation continues where it stopped.

    nice -n 10 .venv/bin/python benchmarks/suggest_lr_acceptance.py --out runs/suggest_acceptance
    .venv/bin/python benchmarks/suggest_lr_acceptance.py --only double_mnist_mlp   # one configuration
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

COMMON = [
    "data.rho=0.99",
    "data.n_val=500",
    "data.n_test=1000",
    "train.until='budget'",
    "train.eval_every=250",
    "eval.metrics=['robustness']",
    "eval.n_dynamics=0",
]
CONFIGS: dict[str, list[str]] = {
    "double_mnist_mlp": ["data.name='double_mnist'", "data.n_train=2000", "train.steps=3000"],
    "colored_mnist_mlp": ["data.name='colored_mnist'", "data.n_train=2000", "train.steps=3000"],
    "parity_mlp": ["data.name='parity'", "data.n_train=2000", "train.steps=3000"],
    "double_mnist_cnn": [
        "data.name='double_mnist'",
        "model.name='cnn'",
        "model.kwargs.width=8",
        "data.n_train=1000",
        "train.steps=1500",
    ],
}
GRID_START = {"double_mnist_cnn": 6}  # the CNN's sweep starts a factor 3 higher (two fewer runs); others k = 4
GRID_SIZE = 11  # LRs before any extension: 0.009 .. 2.19 (the CNN: 9 of them, 0.027 .. 2.19)
MAX_GRID = 16


def grid_lr(name: str, k: int) -> float:
    """The k-th LR of ``name``'s sweep: the ladder's own grid (``largelr.suggest.grid_lr``), unrounded."""
    from largelr.suggest import grid_lr as ladder_grid_lr

    return ladder_grid_lr("sgd", GRID_START.get(name, 4) + k)


def cfg_for(name: str):
    from largelr.config import RunConfig, apply_overrides
    from largelr.validate import check_config

    return check_config(apply_overrides(RunConfig(), [*COMMON, *CONFIGS[name]]))


def suggestion(name: str, cfg, out: Path) -> dict:
    """``suggest_lr(cfg)`` as a dict (cached in ``out/suggest.json``), with its wall time."""
    from largelr.suggest import suggest_lr

    path = out / "suggest.json"
    if path.is_file():
        return json.loads(path.read_text())
    t0 = time.time()
    s = suggest_lr(cfg)
    d = {**s.to_dict(), "seconds": time.time() - t0}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: v for k, v in d.items() if k != "rungs"} | {"rungs": _rungs(s)}, indent=1))
    print(s.text(), flush=True)
    return json.loads(path.read_text())


def _rungs(s) -> list[dict]:
    return [{"lr": r.lr, "regime": r.regime, "steps": r.steps, "final_loss": str(r.final_loss)} for r in s.rungs]


def sweep_table(name: str, cfg, out: Path) -> list[dict]:
    """Run the grid (extended upwards until its two largest LRs do not train); one dict per LR."""
    from dataclasses import replace

    from largelr.report.collect import load_histories, load_results
    from largelr.suggest import did_train
    from largelr.sweep import run_sweep

    k_max = GRID_SIZE - 1 - (2 if name in GRID_START else 0)
    while True:
        configs = [replace(cfg, optim=replace(cfg.optim, lr=grid_lr(name, k))) for k in range(k_max + 1)]
        t0 = time.time()
        run_sweep(configs, out, jobs=1, progress=False)
        print(f"  sweep of {len(configs)} LRs up to {grid_lr(name, k_max):.4g}: {time.time() - t0:.0f} s", flush=True)
        df, hist = load_results(out), load_histories(out)
        rows = []
        for _, r in df.sort_values("cfg.optim.lr").iterrows():
            h = hist[hist["run_id"] == r["run_id"]].sort_values("step")
            first, last = float(h["train/loss"].iloc[0]), float(h["train/loss"].iloc[-1])
            rows.append({"lr": float(r["cfg.optim.lr"]), "status": r["status"], "steps": int(r["steps"]),
                         "loss0": first, "loss_end": last, "acc_bc": float(r.get("test/acc_bc", math.nan)),
                         "trains": did_train(r["status"], first, last)})  # fmt: skip
        if len(rows) >= 2 and not rows[-1]["trains"] and not rows[-2]["trains"] or k_max + 1 >= MAX_GRID:
            return rows
        k_max += 1


def summarise(name: str, s: dict, rows: list[dict], budget: int) -> dict:
    from largelr.suggest import RATIO

    trained = [r for r in rows if r["trains"]]
    largest = max((r["lr"] for r in trained), default=math.nan)
    best = max(trained, key=lambda r: r["acc_bc"], default=None)
    gap = math.log(s["lr"] / largest) / math.log(RATIO) if s["lr"] and trained else math.nan
    sweep_budget = len(rows) * budget
    sweep_ran = sum(r["steps"] for r in rows)
    return {
        "config": name,
        "lambda0": s["lambda0"],
        "edge": s["edge"],
        "suggested": s["lr"],
        "ladder_largest": s["largest_trains"],
        "sweep_largest": largest,
        "best_acc_bc_lr": best["lr"] if best else math.nan,
        "best_acc_bc": best["acc_bc"] if best else math.nan,
        "steps_from_largest": gap,
        "probe_steps": s["probe_steps"],
        "sweep_lrs": len(rows),
        "sweep_steps_budget": sweep_budget,
        "sweep_steps_run": sweep_ran,
        "share_of_budget": s["probe_steps"] / sweep_budget,
        "share_of_run": s["probe_steps"] / sweep_ran,
        "suggest_seconds": s.get("seconds", math.nan),
        "within_one_step": abs(gap) <= 1 + 1e-6,  # both are grid LRs: the gap is an integer up to rounding
        "under_10pct": s["probe_steps"] <= 0.1 * sweep_budget,
        "regimes": {f"{r['lr']:.4g}": r["regime"] for r in s["rungs"]},
        "sweep": {f"{r['lr']:.4g}": ("trains" if r["trains"] else r["status"]) for r in rows},
    }


def table(rows: list[dict]) -> str:
    head = ("| config | λ₀ | 2/λ₀ | suggested | ladder's largest that trains | sweep's largest that trains | "
            "best acc_BC LR (acc_BC) | grid steps from largest | probe steps / sweep steps | accepted |")  # fmt: skip
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        ok = "yes" if r["within_one_step"] and r["under_10pct"] else "NO"
        lines.append(
            f"| {r['config']} | {r['lambda0']:.3g} | {r['edge']:.3g} | {r['suggested']:.3g} | "
            f"{r['ladder_largest']:.3g} | {r['sweep_largest']:.3g} | "
            f"{r['best_acc_bc_lr']:.3g} ({r['best_acc_bc']:.3f}) | {r['steps_from_largest']:+.2f} | "
            f"{r['probe_steps']:,} / {r['sweep_steps_budget']:,} "
            f"({r['share_of_budget']:.1%}; {r['share_of_run']:.1%} of the {r['sweep_steps_run']:,} run) | {ok} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/suggest_acceptance")
    ap.add_argument("--only", nargs="*", choices=list(CONFIGS), help="configurations to run (default: all)")
    args = ap.parse_args()
    os.environ.setdefault("LARGELR_THREADS", "1")
    from largelr.run import setup_torch

    setup_torch()
    out = Path(args.out)
    results = []
    for name in args.only or list(CONFIGS):
        cfg = cfg_for(name)
        print(f"== {name}", flush=True)
        s = suggestion(name, cfg, out / name)
        rows = sweep_table(name, cfg, out / name / "sweep")
        results.append(summarise(name, s, rows, cfg.train.steps))
        (out / name / "summary.json").write_text(json.dumps(results[-1], indent=1))
        print(json.dumps(results[-1]["sweep"]), flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
