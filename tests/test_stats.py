"""The statistics module against brute force written here, by hand, and by simulation (pure numpy/pandas, fast).

Brute force: every within-block order of y is listed with itertools and the statistic recomputed with scipy's
Spearman, independently of ``stats``' centred ranks and convolution of block distributions.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from largelr.report import stats
from largelr.report.keys import LR
from largelr.report.stats import FAILS, HOLDS, INCONCLUSIVE
from largelr.report.verdicts import Check, Claim, evaluate_claims


def brute_force_p(x: np.ndarray, y: np.ndarray, blocks: np.ndarray) -> tuple[float, float]:
    """(two-sided p, smallest attainable p) of the mean within-block Spearman, by listing every joint order."""
    ids = list(dict.fromkeys(blocks.tolist()))
    per_block = []
    for b in ids:
        m = blocks == b
        xb, yb = x[m], y[m]
        per_block.append([sps.spearmanr(xb, np.array(p)).statistic for p in itertools.permutations(yb)])
    obs = np.mean([sps.spearmanr(x[blocks == b], y[blocks == b]).statistic for b in ids])
    null = np.array([np.mean(c) for c in itertools.product(*per_block)])
    p = np.mean(np.abs(null) >= abs(obs) - 1e-9)
    p_min = np.mean(np.abs(null) >= np.abs(null).max() - 1e-9)
    return float(p), float(p_min)


def test_ranks_match_scipy_average_ranks():
    v = np.array([3.0, 1.0, 3.0, 2.0, 1.0, 3.0, 0.5])
    assert stats.ranks(v).tolist() == sps.rankdata(v).tolist()


def test_exact_p_of_3_lrs_x_2_seeds_with_ties_matches_brute_force():
    x = np.array([0.01, 0.05, 0.2] * 2)
    y = np.array([0.0, 0.5, 0.5, 0.1, 0.1, 0.9])  # a tie in each block
    blocks = np.array([0, 0, 0, 1, 1, 1])
    tr = stats.trend_test(x, y, blocks, log_x=True)
    p, p_min = brute_force_p(x, y, blocks)
    assert tr.method == "exact" and tr.p == pytest.approx(p, abs=1e-12) and tr.p_min == pytest.approx(p_min)
    # perfect order in both blocks without ties: only the identity and the reversal reach |rho| = 1: 2 of 36
    perfect = stats.trend_test(x, np.array([1.0, 2, 3, 4, 5, 6]), blocks)
    assert perfect.p == pytest.approx(2 / 36) and perfect.p_min == pytest.approx(2 / 36) and perfect.rho == 1.0


def test_exact_p_of_a_5_x_3_blocked_design_matches_brute_force():
    rng = np.random.default_rng(3)
    x = np.repeat([0.01, 0.02, 0.05, 0.1, 0.2], 3)
    blocks = np.tile([0, 1, 2], 5)
    y = 0.3 * np.log10(x) + rng.normal(0, 0.2, 15) + blocks  # seed offsets
    tr = stats.trend_test(x, y, blocks, log_x=True)
    p, p_min = brute_force_p(x, y, blocks)  # 120^3 = 1,728,000 joint orders
    assert tr.p == pytest.approx(p, abs=1e-12) and tr.p_min == pytest.approx(2 / 120**3) and p_min == tr.p_min
    assert tr.rho == pytest.approx(np.mean([sps.spearmanr(x[blocks == b], y[blocks == b]).statistic for b in range(3)]))


def test_unblocked_design_is_the_exact_permutation_spearman_over_all_runs():
    """The reported case: 3 LRs x 2 seeds pooled, rho = 0.956 with ties in x: exact p 0.022, not scipy's 0.0028."""
    x = np.array([1.0, 1, 2, 2, 3, 3])
    y = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    tr = stats.trend_test(x, y, np.zeros(6, int))
    assert tr.rho == pytest.approx(sps.spearmanr(x, y).statistic)
    assert tr.p == pytest.approx(brute_force_p(x, y, np.zeros(6, int))[0]) and tr.p == pytest.approx(0.0222, abs=1e-4)


def test_monte_carlo_p_is_within_its_stated_error_of_the_exact_p():
    rng = np.random.default_rng(5)
    x = np.repeat([1.0, 2, 3, 4, 5], 3)
    blocks = np.tile([0, 1, 2], 5)
    y = 0.05 * x + rng.normal(0, 0.3, 15)
    exact = stats.trend_test(x, y, blocks, monte_carlo=False)
    mc = stats.trend_test(x, y, blocks, monte_carlo=True)
    assert mc.method.startswith("Monte Carlo") and exact.method == "exact" and 0.01 < exact.p < 0.9
    assert mc.p_se == pytest.approx(math.sqrt(mc.p * (1 - mc.p) / stats.N_MONTE_CARLO))
    assert abs(mc.p - exact.p) < 4 * mc.p_se
    # large blocks go to Monte Carlo by themselves, with the fixed seed (same p twice)
    big = np.arange(12.0)
    a, b = (stats.trend_test(big, np.sin(big), np.zeros(12, int)) for _ in range(2))
    assert a.method == f"Monte Carlo ({stats.N_MONTE_CARLO} draws)" and a.p == b.p
    assert a.p_min == pytest.approx(2 / math.factorial(12))


def test_seed_blocks_block_shared_seeds_and_pool_unshared_ones():
    x = np.array([1.0, 2, 1, 2])
    assert stats.seed_blocks([(0, 0), (0, 0), (1, 1), (1, 1)], x).tolist() == [0, 0, 1, 1]
    assert stats.seed_blocks([(0,), (1,), (2,), (3,)], x).tolist() == [0, 0, 0, 0]  # each run its own seed


def test_change_is_the_within_block_slope_times_the_range_in_decades():
    x = np.repeat([0.01, 0.1, 1.0], 3)
    blocks = np.tile([0, 1, 2], 3)
    y = 0.05 * np.log10(x) + 10.0 * blocks  # 0.05 per decade, 2 decades, huge seed offsets
    tr = stats.trend_test(x, y, blocks, log_x=True)
    assert tr.change == pytest.approx(0.10) and tr.ci == pytest.approx((0.10, 0.10))  # every block agrees exactly
    lin = stats.trend_test(x, y, blocks, log_x=False)  # linear in x: slope of the same points, times 0.99
    t = x - np.repeat([x[blocks == b].mean() for b in range(3)], 1)[blocks]
    yc = y - np.array([y[blocks == b].mean() for b in range(3)])[blocks]
    assert lin.change == pytest.approx((t @ yc) / (t @ t) * 0.99)


def test_bootstrap_interval_resamples_blocks_with_a_fixed_seed():
    rng = np.random.default_rng(1)
    x = np.repeat([0.01, 0.03, 0.1, 0.3], 4)
    blocks = np.tile([0, 1, 2, 3], 4)
    y = 0.2 * np.log10(x) + rng.normal(0, 0.05, 16)
    a, b = stats.trend_test(x, y, blocks, log_x=True), stats.trend_test(x, y, blocks, log_x=True)
    assert a.ci == b.ci and a.ci[0] < a.change < a.ci[1] and len(a.boot) == stats.N_BOOTSTRAP
    # by hand: each block's own change is inside the 95% interval's hull (the extremes are resampled blocks)
    own = [stats.trend_test(x[blocks == k], y[blocks == k], np.zeros(4, int), log_x=True).change for k in range(4)]
    assert min(own) - 1e-12 <= a.ci[0] and a.ci[1] <= max(own) + 1e-12
    two = stats.trend_test(x[blocks < 2], y[blocks < 2], blocks[blocks < 2], log_x=True)
    assert math.isnan(two.ci[0]) and not len(two.boot)  # two blocks: no interval (MIN_UNITS = 3)


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, 2 x 0.03, max(0.06, 1 x 0.04): 0.03, 0.06, 0.06
    assert stats.holm([0.04, 0.01, 0.03]).tolist() == pytest.approx([0.06, 0.03, 0.06])
    assert stats.holm([0.5, 0.6]).tolist() == pytest.approx([1.0, 1.0])
    assert math.isnan(stats.holm([float("nan"), 0.01])[0]) and stats.holm([float("nan"), 0.01])[1] == 0.01


def test_tost_p_from_the_bootstrap():
    tr = stats.trend_test(np.repeat([1.0, 2, 3], 3), np.array([0, 0.001, 0.002, 0.001, 0, 0.002, 0, 0.002, 0.001]),
                          np.tile([0, 1, 2], 3))  # fmt: skip
    assert tr.tost_p(0.05) == pytest.approx(1 / (1 + len(tr.boot)))  # every resample inside +-0.05
    assert tr.tost_p(0.0001) > 0.3 and math.isnan(tr.tost_p(None))  # a third of the resamples reach +-0.001


def test_decide_names_each_outcome():
    x, blocks = np.repeat([1.0, 2, 3, 4], 3), np.tile([0, 1, 2], 4)
    up = stats.trend_test(x, x + 0.01 * blocks, blocks)
    assert stats.decide(up, "higher", 0.001, 0.0001, math.nan, None) == stats.Outcome(HOLDS, "")
    assert stats.decide(up, "lower", 0.001, 0.0001, math.nan, None) == stats.Outcome(FAILS, "opposite sign")
    assert stats.decide(up, "higher", 0.2, 0.0001, math.nan, None).reason == "not significant"
    low = stats.decide(up, "higher", 0.2, 0.09, math.nan, None)
    assert (
        low.verdict == INCONCLUSIVE
        and low.reason == "underpowered: this design's smallest attainable adjusted p is 0.09"
    )
    flat = stats.decide(up, "higher", 0.2, 0.0001, 0.01, 0.5)
    assert flat == stats.Outcome(FAILS, "no effect: |change| < 0.5 (equivalence test)")


# ---------------------------------------------------------------------------------------------
# simulations on synthetic tables


def study(y: np.ndarray, lrs: list[float], seeds: int) -> pd.DataFrame:
    """A results table of lrs x seeds runs (all ok) with property column "y"."""
    grid = [(lr, s) for lr in lrs for s in range(seeds)]
    return pd.DataFrame({LR: [g[0] for g in grid], "cfg.seeds.init": [g[1] for g in grid], "status": "ok", "y": y})


QUICK = [0.01, 0.0232, 0.0539, 0.125, 0.3]  # the headline quick design: 5 LRs x 3 seeds


def one_test(df: pd.DataFrame, sesoi: float | None = None) -> pd.Series:
    claim = Claim("1", "y rises with the LR", (Check(LR, "y", "higher"),))
    return evaluate_claims(df, [claim], sesoi={"y": sesoi} if sesoi else None).iloc[0]


def test_blocked_test_finds_an_effect_that_seed_offsets_hide_from_a_pooled_spearman():
    """(a) a monotone effect of 0.02 per LR step under seed offsets of 1.0: within seeds it is perfect."""
    rng = np.random.default_rng(0)
    t = np.repeat(np.arange(5), 3)
    offsets = np.tile([0.0, 1.0, 2.0], 5)
    y = 0.02 * t + offsets + rng.normal(0, 0.001, 15)
    r = one_test(study(y, QUICK, 3))
    pooled = sps.spearmanr(np.repeat(QUICK, 3), y)
    assert r["verdict"] == HOLDS and r["p_adj"] < 1e-4
    assert pooled.pvalue > 0.05  # the pooled rank correlation is swamped by the seeds


def test_false_verdict_rate_under_no_effect_is_at_most_alpha():
    """(b) 500 null studies (5 LRs x 3 seeds, seed offsets, no LR effect): holds + does-not-hold(opposite sign)."""
    rng = np.random.default_rng(11)
    wrong = 0
    for _ in range(500):
        y = rng.normal(0, 1, 15) + np.tile(rng.normal(0, 2, 3), 5)
        r = one_test(study(y, QUICK, 3))
        wrong += r["verdict"] == HOLDS or (r["verdict"] == FAILS and r["why"].startswith("opposite"))
    rate = wrong / 500
    lo, hi = sps.binomtest(wrong, 500).proportion_ci(0.95)
    assert rate <= stats.ALPHA, (rate, lo, hi)


def test_reported_power_matches_the_simulated_hit_rate_at_the_quick_design():
    """(c) a real change of 0.1 across the range, noise sd 0.06: ``power`` vs the hit rate of the whole pipeline."""
    x = np.repeat(QUICK, 3)
    blocks = np.tile([0, 1, 2], 5)
    reported = stats.power(x, blocks, 0.1, 0.06, log_x=True, n_sim=300)
    rng = np.random.default_rng(7)
    t = np.log10(x)
    hits = 0
    n = 300
    for _ in range(n):
        y = 0.1 * (t - t.min()) / (t.max() - t.min()) + rng.normal(0, 0.06, 15) + np.tile(rng.normal(0, 1, 3), 5)
        hits += one_test(study(y, QUICK, 3))["verdict"] == HOLDS
    rate = hits / n
    assert 0.2 < reported < 0.95  # a design where power is informative
    se = math.sqrt(rate * (1 - rate) * (1 / n + 1 / 300))
    assert abs(rate - reported) < 3.5 * se, (rate, reported)


def test_a_null_effect_inside_the_declared_bound_does_not_hold_no_effect():
    """(d) no LR effect, noise 0.002, smallest effect of interest 0.05: the equivalence test says no effect."""
    rng = np.random.default_rng(2)
    y = 0.5 + rng.normal(0, 0.002, 15) + np.tile([0.0, 0.1, 0.2], 5)
    r = one_test(study(y, QUICK, 3), sesoi=0.05)
    assert r["verdict"] == FAILS and r["why"] == "no effect: |change| < 0.05 (equivalence test)"
    noisy = one_test(study(0.5 + rng.normal(0, 0.2, 15), QUICK, 3), sesoi=0.05)  # too noisy to show equivalence
    assert noisy["verdict"] == INCONCLUSIVE and noisy["why"].startswith("not significant (power ")
