"""Verdict rules on synthetic result tables whose answer is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from largelr.report.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Check,
    Claim,
    claim_table,
    evaluate_claims,
    partial_spearman,
    rises_with,
    run_test,
)

LR = "cfg.optim.lr"
LRS = [0.01, 0.03, 0.1, 0.3, 1.0]


def table(y_of_lr, seeds=3, extra: dict | None = None, **cols) -> pd.DataFrame:
    """One row per (lr, seed): y = y_of_lr(lr, seed); extra cfg columns constant."""
    rows = []
    for lr in LRS:
        for s in range(seeds):
            rows.append({LR: lr, "cfg.seeds.init": s, "status": "ok", "y": y_of_lr(lr, s), **(extra or {}), **cols})
    return pd.DataFrame(rows)


def test_monotone_rise_holds_with_the_exact_spearman_statistic():
    df = table(lambda lr, s: math.log(lr) + 0.01 * s)  # strictly increasing in lr across seeds: rho = 0.968 (ties)
    r = run_test(df, Check(LR, "y", "higher"))
    ref = stats.spearmanr(df[LR], df["y"])
    assert r["verdict"] == HOLDS and r["n"] == 15
    assert r["rho"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)
    # rank correlation by hand: x has 5 tied blocks of 3, y is strictly increasing within and between them
    assert r["rho"] == pytest.approx(np.corrcoef(stats.rankdata(df[LR]), stats.rankdata(df["y"]))[0, 1])


def test_significant_opposite_sign_does_not_hold():
    df = table(lambda lr, s: -lr + 0.001 * s)
    assert run_test(df, Check(LR, "y", "higher"))["verdict"] == FAILS
    assert run_test(df, Check(LR, "y", "lower"))["verdict"] == HOLDS


def test_noise_small_n_constant_and_missing_are_inconclusive():
    df = table(lambda lr, s: float(s))  # the same values at every LR: rho = 0 exactly, p = 1
    r = run_test(df, Check(LR, "y", "higher"))
    assert r["rho"] == pytest.approx(0.0, abs=1e-12) and r["p"] == pytest.approx(1.0)
    assert r["verdict"] == INCONCLUSIVE and r["why"] == "not significant"
    weak = table(lambda lr, s: [0.0, 1.0, 0.5, 2.0, 1.5][LRS.index(lr)] + s)  # a weak, non-significant rise
    r = run_test(weak, Check(LR, "y", "higher"))
    assert r["rho"] > 0 and r["p"] >= 0.05 and r["verdict"] == INCONCLUSIVE
    small = table(lambda lr, s: lr, seeds=1).iloc[:4]  # a perfect rise but only 4 runs
    assert run_test(small, Check(LR, "y", "higher"))["verdict"] == INCONCLUSIVE
    assert run_test(table(lambda lr, s: 1.0), Check(LR, "y", "higher"))["why"] == "y is constant"
    r = run_test(df, Check(LR, "missing_key", "higher"))
    assert r["verdict"] == INCONCLUSIVE and "not measured" in r["why"]


def test_only_ok_runs_count():
    df = table(lambda lr, s: lr)
    df.loc[df[LR] == 1.0, "y"] = -5.0  # the largest LR diverged: its values would reverse the trend
    df.loc[df[LR] == 1.0, "status"] = "diverged"
    r = run_test(df, Check(LR, "y", "higher"))
    assert r["n"] == 12 and r["verdict"] == HOLDS


def test_grouped_case_gives_one_verdict_per_group():
    # dataset A: y rises with lr; dataset B: y falls; pooled, the two cancel (rho = 0): Simpson's paradox
    a = table(lambda lr, s: lr, extra={"cfg.data.name": "A"})
    b = table(lambda lr, s: -lr, extra={"cfg.data.name": "B"})
    df = pd.concat([a, b], ignore_index=True)
    assert stats.spearmanr(df[LR], df["y"]).statistic == pytest.approx(0.0)
    tests = evaluate_claims(df, [Claim("1", "y rises", (Check(LR, "y", "higher"),))])
    got = dict(zip(tests["group"], tests["verdict"]))
    assert got == {"data.name=A": HOLDS, "data.name=B": FAILS}
    claims = claim_table(tests)
    assert list(claims["setting"]) == ["data.name=A", "data.name=B"]
    assert list(claims["verdict"]) == [HOLDS, FAILS]
    # y = lr: identical ranks, rho = 1 and p = 0 (printed as a bound)
    assert claims["evidence"].iloc[0] == "ρ(LR, y) = 1.00, p < 1e-15, n = 15"


def test_claim_combines_its_tests():
    df = table(lambda lr, s: lr)
    df["z"] = df["y"] * -1
    df["w"] = [0.3, 0.1, 0.2] * 5  # no relation with lr
    both = Claim("c", "", (Check(LR, "y", "higher"), Check(LR, "z", "lower")))
    one_fails = Claim("d", "", (Check(LR, "y", "higher"), Check(LR, "z", "higher")))
    one_unclear = Claim("e", "", (Check(LR, "y", "higher"), Check(LR, "w", "higher")))
    out = claim_table(evaluate_claims(df, [both, one_fails, one_unclear]))
    assert list(out["verdict"]) == [HOLDS, FAILS, INCONCLUSIVE]


def test_query_selects_the_claims_runs():
    df = table(lambda lr, s: lr)
    df["cfg.train.bc_weight"] = 1.0
    out = evaluate_claims(df, [Claim("q", "", (Check(LR, "y", "higher"),), query="`cfg.optim.lr` < 0.5")])
    assert out["n"].iloc[0] == 12


def test_rises_with_takes_directions_from_key_info_and_skips_undirected_keys():
    from largelr.metrics import Key

    info = {"a": Key("A", "higher"), "b": Key("B", "lower"), "c": Key("C", None)}
    tests = rises_with(LR, ["a", "b", "c", "d"], {k: v.desirable for k, v in info.items()})
    assert [(t.y, t.expect) for t in tests] == [("a", "higher"), ("b", "lower")]


def test_partial_spearman_matches_the_textbook_formula():
    rng = np.random.default_rng(1)
    z = rng.normal(size=40)
    x = z + rng.normal(size=40)
    y = z + 0.5 * x + rng.normal(size=40)
    r, p = partial_spearman(x, y, z)
    rxy, rxz, ryz = (stats.spearmanr(a, b).statistic for a, b in ((x, y), (x, z), (y, z)))
    expected = (rxy - rxz * ryz) / math.sqrt((1 - rxz**2) * (1 - ryz**2))
    assert r == pytest.approx(expected, abs=1e-12)
    t = expected * math.sqrt(37 / (1 - expected**2))
    assert p == pytest.approx(2 * stats.t.sf(abs(t), 37))
    # y depends on x only through z: the partial correlation is not significant while the plain one is
    y2 = z + 0.3 * rng.normal(size=40)
    assert stats.spearmanr(x, y2).pvalue < 0.05
    assert partial_spearman(x, y2, z)[1] > 0.05
