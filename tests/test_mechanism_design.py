"""The mechanism target's design (claim 6): LR-matched controls, the LR x lambda factorial, matched progress."""

from __future__ import annotations

import math
import runpy

import numpy as np
import pandas as pd
import pytest

from largelr.report.keys import LR
from largelr.reproduce import targets_dir

M = runpy.run_path(str(targets_dir() / "mechanism.py"))
LAM = "cfg.train.bc_weight"


def test_control_lr_is_the_small_lr_times_the_mean_weight():
    # rho = 0.99: 1% BC samples; lambda = 30 -> mean weight 1 + 29 x 0.01 = 1.29 -> LR 0.0129
    assert M["mean_weight"](30.0, 0.99) == pytest.approx(1.29)
    assert [M["control_lr"](lam, 0.99) for lam in (3.0, 10.0, 30.0)] == [0.0102, 0.0109, 0.0129]


def test_quick_grid_has_the_controls_the_factorial_and_normalised_weighting():
    from largelr.reproduce import load_target

    cfgs = load_target("mechanism").configs("quick")  # duplicates (the same run id) removed
    cells = {(c.optim.lr, c.train.bc_weight, c.train.bc_set, c.train.until, c.train.steps) for c in cfgs}
    seeds = {c.seeds.init for c in cfgs}
    assert seeds == {0, 1, 2} and len(cfgs) == len(cells) * 3  # every cell at every seed, no duplicates
    for lr in (0.0102, 0.0109, 0.0129):  # plain runs at the LR-matched step sizes
        assert (lr, 1.0, "oracle", "converged", 3000) in cells
    for lr in (0.01, 0.2):  # the factorial: both LRs x 4 lambdas, all for the same 2,000 steps
        for lam in (0.0, 0.1, 0.3, 1.0):
            assert (lr, lam, "oracle", "budget", 2000) in cells
    ups = {(c.train.bc_set, c.train.bc_weight) for c in cfgs if c.optim.lr == 0.01 and c.train.until == "converged"}
    assert ups == {(s, lam) for s in ("oracle", "jtt") for lam in (1.0, 3.0, 10.0, 30.0)}
    assert {c.train.bc_weight_norm for c in cfgs} == {"sum"}  # the loss is normalised by the sum of weights
    assert sorted({c.optim.lr for c in cfgs if c.train.bc_weight == 1.0 and c.train.until == "converged"}) == [
        0.01, 0.0102, 0.0109, 0.0129, 0.02, 0.05, 0.1, 0.2
    ]  # fmt: skip
    # 5 plain LRs + 2 sets x 3 lambdas > 1 + jtt at lambda 1 (its own id) + 3 controls + 2 x 4 factorial: 23 cells
    assert len(cfgs) == 23 * 3 == 69


def history(lr: float, steps: int = 1000, every: int = 50) -> pd.DataFrame:
    """A synthetic history whose dynamics are known functions of progress tau = lr x step: EBCR = 0.01 tau,
    BC gradient share = 0.5 - 0.002 tau, BA loss = exp(-tau / 10)."""
    step = np.arange(0, steps + 1, every)
    tau = lr * step
    conf = np.where(tau > 0, 0.9, np.nan)
    return pd.DataFrame({"step": step, "dyn/ebcr": 0.01 * tau, "dyn/bc_grad_share": 0.5 - 0.002 * tau,
                         "dyn/bc_conf_wrong": conf, "dyn/ba_loss": np.exp(-tau / 10)})  # fmt: skip


def test_matched_progress_reads_every_lr_at_the_same_tau_and_ba_loss():
    for lr in (0.03, 0.1, 0.2):  # tau = 20 at step 666.7 (between evaluations), 200, 100
        got = M["at_progress"](history(lr), lr)
        assert got["tau/ebcr"] == pytest.approx(0.2) and got["tau/bc_grad_share"] == pytest.approx(0.46)
        # BA loss 0.5 at tau = 10 ln 2; interpolation in log loss is exact here (log loss is linear in tau)
        assert got["baloss/ebcr"] == pytest.approx(0.1 * math.log(2))
    short = M["at_progress"](history(0.01), 0.01)  # tau reaches only 10: nothing at tau = 20
    assert math.isnan(short["tau/ebcr"]) and short["baloss/ebcr"] == pytest.approx(0.1 * math.log(2))
    never = history(0.001)  # BA loss never falls to 0.5 within the history
    assert math.isnan(M["at_progress"](never, 0.001)["baloss/ebcr"])


def test_derive_pairs_the_factorial_and_marks_the_control_arms():
    rows = []
    for seed in (0, 1):
        for lam in (0.0, 1.0):
            for lr, acc in ((0.01, 0.2 + lam * 0.1), (0.2, 0.3 + lam * 0.4 + seed)):
                rows.append({"run_id": f"f{seed}{lam}{lr}", LR: lr, LAM: lam, "cfg.train.bc_set": "oracle",
                             "cfg.train.until": "budget", "cfg.seeds.init": seed, "test/acc_bc": acc})  # fmt: skip
        rows.append({"run_id": f"u{seed}", LR: 0.01, LAM: 30.0, "cfg.train.bc_set": "oracle",
                     "cfg.train.until": "converged", "cfg.seeds.init": seed, "test/acc_bc": 0.5})  # fmt: skip
        rows.append({"run_id": f"c{seed}", LR: 0.0129, LAM: 1.0, "cfg.train.bc_set": "oracle",
                     "cfg.train.until": "converged", "cfg.seeds.init": seed, "test/acc_bc": 0.4})  # fmt: skip
    df = pd.DataFrame(rows).assign(**{"cfg.data.rho": 0.99})
    out = M["derive"](df, pd.DataFrame()).set_index("run_id")
    # LR effect at lambda 0: (0.3 + seed) - 0.2; at lambda 1: (0.7 + seed) - 0.3: only on the large-LR rows
    assert out.loc["f00.00.2", "lr_effect/test/acc_bc"] == pytest.approx(0.1)
    assert out.loc["f11.00.2", "lr_effect/test/acc_bc"] == pytest.approx(1.4)
    assert math.isnan(out.loc["f00.00.01", "lr_effect/test/acc_bc"])
    assert out.loc["u0", "mech/arm"] == 1.0 and out.loc["c0", "mech/arm"] == 0.0
    assert out.loc["u0", "mech/lam"] == 30.0 and out.loc["c0", "mech/lam"] == 30.0  # the pair's lambda
    assert out["mech/arm"].notna().sum() == 4


def test_standard_grid_is_the_quick_design_at_converging_lrs_with_its_own_controls():
    from largelr.reproduce import STANDARD_LOSS_TOL, load_target

    cfgs = load_target("mechanism").configs("standard")
    assert len(cfgs) == 69 and {c.seeds.init for c in cfgs} == {0, 1, 2}
    conv = [c for c in cfgs if c.train.until == "converged"]
    assert {c.train.loss_tol for c in conv} == {STANDARD_LOSS_TOL} and {c.data.n_train for c in cfgs} == {2000}
    # controls at 0.03 x (1 + (lambda - 1) x 0.01) for lambda = 3, 10, 30: 0.0306, 0.0327, 0.0387
    plain = sorted({c.optim.lr for c in conv if c.train.bc_weight == 1.0 and c.train.bc_set == "oracle"})
    assert plain == [0.03, 0.0306, 0.0327, 0.0387, 0.0533, 0.0949, 0.169, 0.3]
    fac = {(c.optim.lr, c.train.bc_weight, c.train.steps) for c in cfgs if c.train.until == "budget"}
    assert fac == {(lr, lam, 10000) for lr in (0.03, 0.3) for lam in (0.0, 0.1, 0.3, 1.0)}  # tau = 300 at 0.03


def test_derive_reads_the_small_and_large_lr_from_the_runs():
    rows = [{"run_id": f"f{lr}", LR: lr, LAM: 1.0, "cfg.train.until": "budget", "cfg.seeds.init": 0,
             "test/acc_bc": 10 * lr} for lr in (0.03, 0.3)]  # fmt: skip
    rows += [{"run_id": "u", LR: 0.03, LAM: 30.0, "cfg.train.until": "converged", "cfg.seeds.init": 0},
             {"run_id": "c", LR: 0.0387, LAM: 1.0, "cfg.train.until": "converged", "cfg.seeds.init": 0},
             {"run_id": "q", LR: 0.0129, LAM: 1.0, "cfg.train.until": "converged", "cfg.seeds.init": 0}]  # fmt: skip
    df = pd.DataFrame(rows).assign(**{"cfg.train.bc_set": "oracle", "cfg.data.rho": 0.99})
    assert M["small_large"](df) == (0.03, 0.3)
    out = M["derive"](df, pd.DataFrame()).set_index("run_id")
    assert out.loc["f0.3", "lr_effect/test/acc_bc"] == pytest.approx(2.7)  # 3.0 - 0.3
    # the control of lambda = 30 at the small LR 0.03 is LR 0.0387; quick's 0.0129 is no control here
    assert out.loc["c", "mech/arm"] == 0.0 and out.loc["c", "mech/lam"] == 30.0 and math.isnan(out.loc["q", "mech/arm"])
