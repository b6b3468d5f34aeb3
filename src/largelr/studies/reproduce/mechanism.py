"""Mechanism (claim 6): BC samples carry more of the loss and the gradient at large LRs, at matched progress; and
the BC up-weighting intervention, against LR-matched controls and as an LR x lambda factorial.

Part 1, dynamics (6a): Double MNIST (rho 0.99), five LRs, the training-dynamics rows (``dyn/*``) every 50 steps
on a fixed training subset holding every BC sample. A larger LR gets further in the same number of steps, so
the curves are compared at matched **progress**: at tau = LR x step = TAU (and, second, where the bias-aligned
training loss first reaches BA_LOSS). The test: at matched progress, a larger LR gives the BC samples a larger
share of the loss (EBCR) and of the per-sample gradient norms, and BC mistakes are more confident.

Part 2, up-weighting at the small LR (6b): the BC samples' loss is weighted by lambda in {1, 3, 10, 30}, the BC
set being the true BC labels (oracle) or JTT's ERM-error set, with the loss normalised by the batch's sum of
weights (sum(w l) / sum(w), the expectation of up-sampling; ``train.bc_weight_norm``), so lambda does not raise
the step size. Tests: the large-LR properties rise with lambda; and (6b-control) up-weighting with the oracle
set beats plain training at the LR-matched step size LOW x mean weight (1 + (lambda - 1)(1 - rho)), what the
unnormalised loss would have been, paired by seed and lambda.

Part 3, the LR x lambda factorial (6c): lambda in {0, 0.1, 0.3, 1} (oracle) at the small and the large LR, all
trained for the same number of steps (``until=budget``). The test is the interaction: the LR effect (a property
at the large LR minus at the small LR, same seed and lambda) grows with lambda, i.e. shrinks as the BC samples
are removed from the loss.

Needs: nothing beyond the package.
Cost: quick 69 runs (<= 3,000 steps; the factorial 2,000), 10.8 min on 2 CPU cores with --jobs 2 (measured,
commit 0946893);
full 5 seeds, <= 10,000 steps, lambda up to 100.

    largelr reproduce mechanism --preset quick --jobs 2
"""

import numpy as np
import pandas as pd

from largelr.config import DataConfig, EvalConfig, RunConfig, TrainConfig
from largelr.report.keys import LR
from largelr.report.verdicts import Check, Claim, rises_with
from largelr.reproduce import desirable, standard_train, tiny_base
from largelr.sweep import grid, log_space

NAME = "mechanism"
CLAIMS = ("6",)
COST = {
    "quick": "69 runs (5 LRs; 2 BC sets x 4 lambdas; 3 LR-matched controls; 2 LRs x 4 lambdas factorial; 3 seeds), "
    "10.8 min on 2 CPU cores with --jobs 2",
    "standard": "69 runs (the quick design at LRs 0.03-0.3 on 2,000 training images, to train loss 1e-3; the "
    "factorial 10,000 steps), 74 min with --jobs 2 on 2 CPU cores shared with other jobs (load average 20-35; idle "
    "cost not measured)",
    "full": "about 110 runs (5 seeds, <= 10k steps), ~3-4 h on 2 CPU cores",
}
LAM, SET, UNTIL = "cfg.train.bc_weight", "cfg.train.bc_set", "cfg.train.until"
LOW, MID, HIGH = 0.01, 0.05, 0.2
TAU = 20.0  # matched progress LR x step at which 6a compares the LRs
BA_LOSS = 0.5  # ... and the bias-aligned training loss at which it compares them a second time
PROPERTY_KEYS = ("test/acc_bc", "test/worst_group_acc", "weights/comp", "test/core_util")
# the factorial's differences use worst-class BC accuracy: a difference of two worst-group accuracies on ~20 test
# images per group is mostly 0 - 0 (docs/statistics.md)
FACTORIAL_KEYS = ("test/acc_bc", "test/worst_class_acc_bc", "weights/comp", "test/core_util")
DYN = {"ebcr": "dyn/ebcr", "bc_grad_share": "dyn/bc_grad_share", "bc_conf_wrong": "dyn/bc_conf_wrong"}
UPS = (1.0, 3.0, 10.0, 30.0)
DOWNS = (0.0, 0.1, 0.3, 1.0)

EXTRA_FIGURES = {"6a": ("dynamics", "dynamics_tau")}
LABELS = {
    **{f"tau/{k}": f"{v.removeprefix('dyn/')} at τ = {TAU:g}" for k, v in DYN.items()},
    **{f"baloss/{k}": f"{v.removeprefix('dyn/')} at BA loss {BA_LOSS:g}" for k, v in DYN.items()},
    "mech/arm": "up-weighted (1) vs LR-matched plain (0)",
    **{f"lr_effect/{k}": f"LR effect on {k.split('/')[-1]} (large minus small LR)" for k in FACTORIAL_KEYS},
}
SESOI = {  # smallest effects of interest of the derived columns (shares and confidences: one point)
    **{f"{p}/{k}": 0.01 for p in ("tau", "baloss") for k in DYN},
    **{f"lr_effect/{k}": 0.01 for k in FACTORIAL_KEYS},
}


def mean_weight(lam: float, rho: float) -> float:
    """The mean loss weight of the oracle set's runs: 1 + (lambda - 1) x (share of BC samples, 1 - rho)."""
    return 1.0 + (lam - 1.0) * (1.0 - rho)


def control_lr(lam: float, rho: float, low: float = LOW) -> float:
    """The LR-matched control of up-weighting by lambda at the small LR: low x the mean weight (6 significant
    digits)."""
    return float(f"{low * mean_weight(lam, rho):.6g}")


def small_large(df: pd.DataFrame) -> tuple[float, float]:
    """The preset's small LR (where the BC samples are up-weighted) and large LR (the factorial's other LR), read
    from the runs; LOW and HIGH when the table has no such runs."""
    lam = df[LAM] if LAM in df else pd.Series(1.0, index=df.index)
    until = df[UNTIL] if UNTIL in df else pd.Series("converged", index=df.index)
    up, fac = df.loc[lam > 1, LR], df.loc[until == "budget", LR]
    return (float(up.min()) if len(up) else LOW), (float(fac.max()) if len(fac) else HIGH)


def _base(preset: str) -> RunConfig:
    if preset == "tiny":
        return tiny_base()
    if preset == "standard":  # 2,000 images so that the small LR converges; evaluations every 50 steps as in quick
        # (tau = 20 is read between tau = 15 and 30 at the largest LR, 0.3)
        return RunConfig(data=DataConfig(name="double_mnist", rho=0.99, n_train=2000, n_val=1000, n_test=2000),
                         train=standard_train(20000, jtt_steps=500, eval_every=50),
                         eval=EvalConfig(metrics=("default",)))  # fmt: skip
    return RunConfig(
        data=DataConfig(name="double_mnist", rho=0.99, n_train=10000, n_val=2000, n_test=2000),
        train=TrainConfig(until="converged", steps=10000 if preset == "full" else 3000, eval_every=50,
                          fail_after=1000, jtt_steps=500),
        eval=EvalConfig(metrics=("default",)),
    )  # fmt: skip


def sweep(preset: str = "quick") -> list[RunConfig]:
    base = _base(preset)
    seeds = [(i, i, i) for i in range(5 if preset == "full" else 1 if preset == "tiny" else 3)]
    ups = [*UPS, 100.0] if preset == "full" else list(UPS)
    s = ("seeds.data", "seeds.init", "seeds.order")
    rho = base.data.rho
    low, high, lrs, steps = {
        "tiny": (LOW, HIGH, [LOW, MID, HIGH], 20),
        "standard": (0.03, 0.3, log_space(0.03, 0.3, 5), 10000),  # 10,000 steps: tau = 300 at the small LR,
    }.get(preset, (LOW, HIGH, [LOW, 0.02, MID, 0.1, HIGH], 2000))  # where its lambda = 1 runs converge
    fixed = {"train.until": ["budget"], "train.steps": [steps]}
    if preset == "standard":  # the factorial reads no dynamics and stops at no criterion: few evaluations
        fixed["train.eval_every"] = [2500]
    return [
        *grid(base, {"optim.lr": lrs, s: seeds}),
        *grid(base, {"optim.lr": [low], "train.bc_set": ["oracle", "jtt"], "train.bc_weight": ups, s: seeds}),
        *grid(base, {"optim.lr": [control_lr(lam, rho, low) for lam in ups if lam > 1], s: seeds}),
        *grid(base, {"optim.lr": [low, high], "train.bc_weight": list(DOWNS), **fixed, s: seeds}),
    ]


def at_progress(h: pd.DataFrame, lr: float) -> dict[str, float]:
    """One run's dynamics at tau = LR x step = TAU and where its BA loss first reaches BA_LOSS (linear
    interpolation between evaluations; NaN outside the run's history)."""
    h = h.sort_values("step")
    tau = lr * h["step"].to_numpy(float)
    out = {}
    for name, key in DYN.items():
        v = h[key].to_numpy(float) if key in h else np.full(len(h), np.nan)
        ok = np.isfinite(v)
        inside = ok.any() and tau[ok].min() <= TAU <= tau[ok].max()
        out[f"tau/{name}"] = float(np.interp(TAU, tau[ok], v[ok])) if inside else np.nan
        out[f"baloss/{name}"] = _at_loss(h["dyn/ba_loss"].to_numpy(float), v) if "dyn/ba_loss" in h else np.nan
    return out


def _at_loss(loss: np.ndarray, v: np.ndarray) -> float:
    """v where the loss first falls to BA_LOSS, interpolated linearly in log loss; NaN if it never does."""
    below = np.flatnonzero(loss <= BA_LOSS)
    if not len(below) or below[0] == 0:
        return float(v[0]) if len(below) and loss[0] == BA_LOSS else np.nan
    i = below[0]
    a, b = np.log(loss[i - 1]), np.log(loss[i])
    f = (a - np.log(BA_LOSS)) / (a - b)
    return float(v[i - 1] + f * (v[i] - v[i - 1]))


def derive(df: pd.DataFrame, hist: pd.DataFrame) -> pd.DataFrame:
    """Per run: the dynamics at matched progress (``tau/*``, ``baloss/*``); which arm of the LR-matched
    comparison it is (``mech/arm``, ``mech/lam``); and on the factorial's large-LR runs, the LR effect of
    each property (``lr_effect/*``: minus the small-LR run of the same seed and lambda)."""
    df = df.copy()
    if len(hist):
        lr_of = dict(zip(df["run_id"], df[LR]))
        rows = {rid: at_progress(h, lr_of[rid]) for rid, h in hist.groupby("run_id") if rid in lr_of}
        for col in [*(f"tau/{k}" for k in DYN), *(f"baloss/{k}" for k in DYN)]:
            df[col] = df["run_id"].map({rid: r[col] for rid, r in rows.items()})
    until = df[UNTIL] if UNTIL in df else pd.Series("converged", index=df.index)
    lam = df[LAM] if LAM in df else pd.Series(1.0, index=df.index)
    oracle = df[SET] == "oracle" if SET in df else pd.Series(True, index=df.index)
    rho = float(df["cfg.data.rho"].iloc[0]) if "cfg.data.rho" in df and len(df) else 0.99
    low, high = small_large(df)
    matched = {control_lr(v, rho, low): v for v in (3.0, 10.0, 30.0, 100.0)}
    up = (df[LR] == low) & (lam > 1) & oracle & (until == "converged")
    ctl = df[LR].isin(list(matched)) & (lam == 1) & (until == "converged")
    df["mech/arm"] = np.where(up, 1.0, np.where(ctl, 0.0, np.nan))
    df["mech/lam"] = np.where(up, lam, np.where(ctl, df[LR].map(matched), np.nan))
    fac = df[until == "budget"]
    seed = "cfg.seeds.init"
    for key in FACTORIAL_KEYS:
        col = f"lr_effect/{key}"
        df[col] = np.nan
        if key not in fac or not len(fac):
            continue
        at_low = fac[fac[LR] == low].set_index([seed, LAM])[key]
        at_high = fac[fac[LR] == high]
        pairs = list(zip(at_high[seed], at_high[LAM]))
        df.loc[at_high.index, col] = at_high[key].to_numpy(float) - np.array([at_low.get(p, np.nan) for p in pairs])
    return df


def _control_checks(df: pd.DataFrame) -> list:
    """6b-control: every property, up-weighted vs LR-matched plain runs, blocked by (seed, lambda)."""
    d = desirable()
    sub = df[df["mech/arm"].notna()] if "mech/arm" in df else df.iloc[0:0]
    low = small_large(df)[0]
    return [(f"oracle set at LR {low:g}, LR-matched controls", sub, Check("mech/arm", k, d[k], control="mech/lam"))
            for k in PROPERTY_KEYS if d.get(k)]  # fmt: skip


def claims(df: pd.DataFrame) -> list[Claim]:
    d = desirable()
    low, high = small_large(df)
    plain = f"`{LAM}` == 1.0 and `{SET}` == 'oracle' and `{UNTIL}` == 'converged'"
    matched = (*(Check(LR, f"tau/{k}", "higher") for k in DYN),
               Check(LR, "baloss/ebcr", "higher"), Check(LR, "baloss/bc_grad_share", "higher"))  # fmt: skip
    return [
        Claim("6a", f"At matched progress (τ = LR × step = {TAU:g}; bias-aligned loss {BA_LOSS:g}), larger LRs give "
                    "BC samples a larger share of the loss and the gradient and more confident BC mistakes.",
              matched, query=plain),
        Claim("6b", f"At the small LR ({low:g}), up-weighting the BC samples' loss by lambda (normalised by the sum of "
                    "weights) raises the large-LR properties.",
              rises_with(LAM, PROPERTY_KEYS, d), axis=LAM, query=f"`{LR}` == {low} and `{UNTIL}` == 'converged'"),
        Claim("6b-control", "Up-weighting the BC samples at the small LR beats plain training at the LR-matched step "
                            "size (small LR x mean weight).", (), checks=_control_checks),
        Claim("6c", f"The LR effect (LR {high:g} minus {low:g}, same steps) shrinks as the BC samples' weight lambda "
                    "falls to 0 (LR x lambda interaction).",
              tuple(Check(LAM, f"lr_effect/{k}", "higher") for k in FACTORIAL_KEYS if d.get(k)), axis=LAM,
              query=f"`{LR}` == {high} and `{UNTIL}` == 'budget'"),
    ]  # fmt: skip
