"""Mechanism (claim 6): BC samples mispredicted confidently early at large LRs, and the BC up-weighting intervention.

Part 1, dynamics: Double MNIST (rho 0.99), three LRs, with the training-dynamics rows (``dyn/*``) every
100 steps on a fixed training subset holding every BC sample: effective BC loss ratio (EBCR), max-softmax
confidence on misclassified BC samples, share of BC samples predicted as their spurious class, acc_BC.
The claim is tested on the mean of each over the early window (steps 1..EARLY_STEPS): larger LR, larger
EBCR and more confident BC mistakes.

Part 2, intervention (JTT-style, ``train.bc_weight``): at the small LR, the BC samples' loss is multiplied
by lambda in {1, 3, 10, 30}, the BC set being the true BC labels (oracle) or JTT's ERM-error set (an ERM
model of the same seeds after ``train.jtt_steps`` steps); does that recover the large-LR properties
(acc_BC, worst-group accuracy, compressibility, core use)? At the large LR, the converse: lambda in
{0, 0.1, 0.3, 1} (oracle set); do the properties drop as lambda falls?

Needs: nothing beyond the package.
Cost: quick 39 runs (<= 3,000 steps each), 6 min on 2 idle CPU cores with --jobs 2 (measured); full 75 runs (5 seeds,
<= 10,000 steps, lambda up to 100), ~3 h on 2 cores.

    largelr reproduce mechanism --preset quick --jobs 2
"""

import pandas as pd

from largelr.config import DataConfig, EvalConfig, RunConfig, TrainConfig
from largelr.report.verdicts import Check, Claim, rises_with
from largelr.reproduce import desirable, tiny_base
from largelr.sweep import grid

NAME = "mechanism"
CLAIMS = ("6",)
COST = {
    "quick": "39 runs (3 LRs, 2 BC sets, 4 lambdas each side, 3 seeds), 6 min on 2 CPU cores with --jobs 2",
    "full": "75 runs (5 seeds, <= 10k steps), ~3 h on 2 CPU cores",
}
LR, LAM = "cfg.optim.lr", "cfg.train.bc_weight"
LOW, MID, HIGH = 0.01, 0.05, 0.2
EARLY_STEPS = 500  # the early window of the dynamics claim
PROPERTY_KEYS = ("test/acc_bc", "test/worst_group_acc", "weights/comp", "test/core_util")
EARLY = {  # derived column -> (history key, desirable direction as the LR rises)
    "early/ebcr": ("dyn/ebcr", "higher"),
    "early/bc_conf_wrong": ("dyn/bc_conf_wrong", "higher"),
}

EXTRA_FIGURES = {"6a": ("dynamics",)}
LABELS = {"early/ebcr": "early EBCR", "early/bc_conf_wrong": "early confidence of BC mistakes"}


def _base(preset: str) -> RunConfig:
    if preset == "tiny":
        return tiny_base()
    return RunConfig(
        data=DataConfig(name="double_mnist", rho=0.99, n_train=10000, n_val=2000, n_test=2000),
        train=TrainConfig(until="converged", steps=10000 if preset == "full" else 3000, eval_every=100,
                          fail_after=1000, jtt_steps=500),
        eval=EvalConfig(metrics=("default",)),
    )  # fmt: skip


def sweep(preset: str = "quick") -> list[RunConfig]:
    base = _base(preset)
    seeds = [(i, i, i) for i in range(5 if preset == "full" else 1 if preset == "tiny" else 3)]
    ups = [1.0, 3.0, 10.0, 30.0, 100.0] if preset == "full" else [1.0, 3.0, 10.0, 30.0]
    downs = [0.0, 0.1, 0.3, 1.0]
    s = ("seeds.data", "seeds.init", "seeds.order")
    return [
        *grid(base, {"optim.lr": [LOW, 0.02, MID, 0.1, HIGH] if preset != "tiny" else [LOW, MID, HIGH], s: seeds}),
        *grid(base, {"optim.lr": [LOW], "train.bc_set": ["oracle", "jtt"], "train.bc_weight": ups, s: seeds}),
        *grid(base, {"optim.lr": [HIGH], "train.bc_weight": downs, s: seeds}),
    ]


def derive(df: pd.DataFrame, hist: pd.DataFrame) -> pd.DataFrame:
    """Per run: the mean of each EARLY history key over steps 1..EARLY_STEPS."""
    if not len(hist):
        return df
    window = hist[(hist["step"] > 0) & (hist["step"] <= EARLY_STEPS)]
    for col, (key, _) in EARLY.items():
        if key in window:
            df[col] = df["run_id"].map(window.groupby("run_id")[key].mean())
    return df


def claims(df: pd.DataFrame) -> list[Claim]:
    d = desirable()
    plain = f"`{LAM}` == 1.0 and `cfg.train.bc_set` == 'oracle'"
    return [
        Claim("6a", f"At larger LRs, BC samples carry a larger share of the loss early (steps <= {EARLY_STEPS}) "
                    "and are mispredicted more confidently.",
              tuple(Check(LR, c, e) for c, (_, e) in EARLY.items()), query=plain),
        Claim("6b", f"At the small LR ({LOW}), up-weighting the BC samples' loss by lambda recovers the large-LR "
                    "properties.", rises_with(LAM, PROPERTY_KEYS, d), axis=LAM, query=f"`{LR}` == {LOW}"),
        Claim("6c", f"At the large LR ({HIGH}), down-weighting them (lambda < 1) loses those properties.",
              rises_with(LAM, PROPERTY_KEYS, d), axis=LAM, query=f"`{LR}` == {HIGH}"),
    ]  # fmt: skip
