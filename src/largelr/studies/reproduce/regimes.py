"""Regimes (claims 1-2 by LR regime; beyond the paper): the properties and catapults against eta/eta_crit.

eta_crit = 2/lambda_0 is the stability edge of gradient descent at initialisation (lambda_0: the sharpness of the
training loss there; above it training starts with a catapult, Lewkowycz et al. 2020,
https://arxiv.org/abs/2003.02218). Double MNIST (rho 0.99, 2,000 training images), the default MLP, plain SGD on
batches of 100, eight LRs on a ratio-sqrt 3 grid from 0.02 up to one the ReLUs do not survive, with the dynamics
observatory on (``eval.observatory``: lambda_max at step 0 and every 250 steps, y/s probes) and the full-train
loss every 10 steps, so the catapult detector (``largelr.metrics.catapult.catapults``) sees the first steps.
Claim R1: bias-conflicting accuracy, compressibility comp_kappa and class separation rise with the LR, i.e. with
eta/eta_crit (within a seed block lambda_0 is one number, so the two axes order the runs alike). Claim R2: the
share of runs whose loss history holds a catapult rises with the LR; where it starts is in the report's
eta/eta_crit figure (its caption gives the first eta/eta_crit at which most runs catapult). A fixed budget of
1,000 steps (``until=budget``), not convergence: the verdicts say so.

Needs: nothing beyond the package.
Cost: quick 24 runs (8 LRs x 3 seeds, 1,000 steps, 101 history rows each): 8.3 min with --jobs 2 on 2 CPU
cores shared with other work (load average 1 to 6; measured, docs/suggest-lr.md); full: 5 seeds, 3,000 steps.

    largelr reproduce regimes --preset quick --jobs 2
"""

from dataclasses import replace

import numpy as np
import pandas as pd

from largelr.config import DataConfig, EvalConfig, RunConfig, TrainConfig
from largelr.metrics.catapult import catapults
from largelr.report.keys import LR
from largelr.report.verdicts import Check, Claim, rises_with
from largelr.reproduce import desirable, tiny_base
from largelr.sweep import grid

NAME = "regimes"
CLAIMS = ("1", "2")
COST = {
    "quick": "24 runs (8 LRs x 3 seeds, 1,000 steps, observatory on), 8.3 min on 2 shared CPU cores with --jobs 2 "
    "(measured under load 1-6; less on idle cores)",
    "full": "40 runs (8 LRs x 5 seeds, 3,000 steps), about 30 min on 2 CPU cores",
}
KEYS = ("test/acc_bc", "weights/comp", "test/class_sep")
ETA, CATAPULT, LAMBDA0 = "regime/eta_over_crit", "regime/catapult", "regime/lambda0"
LRS = [float(f"{0.02 * 3 ** (k / 2):.3g}") for k in range(8)]  # 0.02 .. 0.935, ratio sqrt 3
EXTRA_FIGURES = {"R1": ("eta_crit", "observatory")}
LABELS = {
    ETA: "η/η_crit (η_crit = 2/λ₀)",
    CATAPULT: "catapult in the loss history (1 = yes)",
    LAMBDA0: "λ₀, sharpness at initialisation",
}
SESOI = {CATAPULT: 0.5}  # half of the runs: a difference in the share of runs with a catapult worth a verdict


def sweep(preset: str = "quick") -> list[RunConfig]:
    seeds = ("seeds.data", "seeds.init", "seeds.order")
    if preset == "tiny":
        tiny = tiny_base(("robustness", "compressibility", "class_separation"))
        tiny = replace(tiny, eval=replace(tiny.eval, observatory=True, observatory_every=10))
        return grid(tiny, {"optim.lr": [0.01, 0.05, 0.2]})
    full = preset == "full"
    base = RunConfig(
        data=DataConfig(name="double_mnist", rho=0.99, n_train=2000, n_val=200, n_test=1000),
        train=TrainConfig(until="budget", steps=3000 if full else 1000, eval_every=10, fail_after=500),
        eval=EvalConfig(metrics=("robustness", "compressibility", "class_separation"), n_dynamics=500,
                        observatory=True, observatory_every=250),
    )  # fmt: skip
    return grid(base, {"optim.lr": LRS, seeds: [(i, i, i) for i in range(5 if full else 3)]})


def derive(df: pd.DataFrame, hist: pd.DataFrame) -> pd.DataFrame:
    """Per run: lambda_0 (the observatory's sharpness at step 0), eta/eta_crit = LR x lambda_0 / 2, and whether its
    full-train loss history holds a catapult (``catapults``; 1 or 0)."""
    df = df.copy()
    for col in (ETA, CATAPULT, LAMBDA0):
        df[col] = np.nan
    if not len(hist) or "obs/sharpness" not in hist:
        return df
    for run_id, h in hist.sort_values("step").groupby("run_id"):
        rows = df.index[df["run_id"] == run_id]
        if not len(rows):
            continue
        start = h[h["step"] == 0]["obs/sharpness"]
        lam0 = float(start.iloc[0]) if len(start) else np.nan
        df.loc[rows, LAMBDA0] = lam0
        df.loc[rows, ETA] = df.loc[rows, LR] * lam0 / 2
        df.loc[rows, CATAPULT] = float(bool(catapults(h["train/loss"].to_numpy(float).tolist())))
    return df


def claims(df: pd.DataFrame) -> list[Claim]:
    return [
        Claim("R1", "Across the LR regimes (η/η_crit = LR·λ₀/2), larger LRs give higher bias-conflicting accuracy, "
                    "compressibility and class separation.", rises_with(LR, KEYS, desirable())),
        Claim("R2", "Catapults (a loss spike that starts near the initial loss) appear from some LR on: the share of "
                    "runs with one rises with the LR.", (Check(LR, CATAPULT, "higher"),)),
    ]  # fmt: skip
