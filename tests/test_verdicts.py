"""Verdict rules on synthetic result tables whose answer is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from largelr.report import stats
from largelr.report.keys import LR
from largelr.report.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    RULE,
    TEST_COLUMNS,
    Check,
    Claim,
    claim_table,
    combine,
    converged_text,
    evaluate_claims,
    measure,
    rises_with,
    statistic_text,
)

LRS = [0.01, 0.03, 0.1, 0.3, 1.0]


def table(y_of_lr, seeds=3, extra: dict | None = None, **cols) -> pd.DataFrame:
    """One row per (lr, seed): y = y_of_lr(lr, seed); the seed triple is shared across LRs (blocks)."""
    rows = []
    for lr in LRS:
        for s in range(seeds):
            rows.append(
                {LR: lr, "cfg.seeds.init": s, "status": "ok", "converged": True, "y": y_of_lr(lr, s),
                 **(extra or {}), **cols}
            )  # fmt: skip
    return pd.DataFrame(rows)


def one(df: pd.DataFrame, check: Check, **kw) -> pd.Series:
    return evaluate_claims(df, [Claim("1", "t", (check,))], **kw).iloc[0]


def test_monotone_rise_holds_with_the_within_seed_statistic_and_the_exact_p():
    df = table(lambda lr, s: math.log(lr) + 10 * s)  # perfect within each seed, large seed offsets
    r = one(df, Check(LR, "y", "higher"))
    assert r["verdict"] == HOLDS and r["n"] == 15 and r["blocks"] == 3 and r["design"] == "seed blocks"
    assert r["rho"] == pytest.approx(1.0) and r["p"] == pytest.approx(2 / 120**3) and r["method"] == "exact"
    # Δ: y = ln(lr) = ln(10) * log10(lr): 2 decades -> ln(10) * 2, every block agrees: a zero-width interval
    assert r["change"] == pytest.approx(2 * math.log(10)) and r["ci_low"] == pytest.approx(r["change"])
    assert r["p_adj"] == r["p"] and r["p_min_adj"] == pytest.approx(r["p"])  # a family of one


def test_significant_opposite_sign_does_not_hold():
    df = table(lambda lr, s: -lr + 0.001 * s)
    assert one(df, Check(LR, "y", "higher"))[["verdict", "why"]].tolist() == [FAILS, "opposite sign"]
    assert one(df, Check(LR, "y", "lower"))["verdict"] == HOLDS


def test_noise_small_designs_constant_and_missing_are_inconclusive_with_their_reason():
    orders = [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]]  # within seeds: rho = 1, -1, 0.3
    df = table(lambda lr, s: float(orders[s][LRS.index(lr)]))
    r = one(df, Check(LR, "y", "higher"))
    assert r["rho"] == pytest.approx(0.3 / 3)
    assert r["p_adj"] >= 0.05 and r["verdict"] == INCONCLUSIVE and r["why"] == "not significant"
    small = table(lambda lr, s: lr, seeds=2)
    small = small[small[LR].isin([0.01, 0.1, 1.0])]  # 3 LRs x 2 seeds: at best p = 2/36 > 0.05
    r = one(small, Check(LR, "y", "higher"))
    assert r["verdict"] == INCONCLUSIVE
    assert r["why"] == "underpowered: this design's smallest attainable adjusted p is 0.056"
    assert one(table(lambda lr, s: 1.0), Check(LR, "y", "higher"))["why"] == "y is constant"
    r = one(df, Check(LR, "missing_key", "higher"))
    assert r["verdict"] == INCONCLUSIVE and r["why"] == "not measured: missing_key"
    two = table(lambda lr, s: lr, seeds=1).iloc[:2]
    assert one(two, Check(LR, "y", "higher"))["why"] == "too few runs"


def test_only_ok_runs_count():
    df = table(lambda lr, s: lr)
    df.loc[df[LR] == 1.0, "y"] = -5.0  # the largest LR diverged: its values would reverse the trend
    df.loc[df[LR] == 1.0, "status"] = "diverged"
    r = one(df, Check(LR, "y", "higher"))
    assert r["n"] == 12 and r["runs"] == 12 and r["verdict"] == HOLDS


def test_grouped_case_gives_one_verdict_per_group():
    # dataset A: y rises with lr; dataset B: y falls; pooled, the two cancel (rho = 0): Simpson's paradox
    a = table(lambda lr, s: lr, extra={"cfg.data.name": "A"})
    b = table(lambda lr, s: -lr, extra={"cfg.data.name": "B"})
    df = pd.concat([a, b], ignore_index=True)
    assert sps.spearmanr(df[LR], df["y"]).statistic == pytest.approx(0.0)
    tests = evaluate_claims(df, [Claim("1", "y rises", (Check(LR, "y", "higher"),))])
    assert dict(zip(tests["group"], tests["verdict"])) == {"data.name=A": HOLDS, "data.name=B": FAILS}
    claims = claim_table(tests)
    assert list(claims["setting"]) == ["data.name=A", "data.name=B"]
    assert list(claims["outcome"]) == [HOLDS, FAILS]
    assert list(claims["verdict"]) == ["holds (15/15 converged)", "does not hold (15/15 converged)"]


def test_every_test_of_one_call_is_one_holm_family():
    df = table(lambda lr, s: math.log(lr) + s)
    df["z"] = -df["y"]
    c1 = Claim("a", "", (Check(LR, "y", "higher"),))
    c2 = Claim("b", "", (Check(LR, "z", "lower"), Check(LR, "y", "higher")))
    out = evaluate_claims(df, [c1, c2])
    assert list(out["p_adj"]) == pytest.approx(list(stats.holm(out["p"])))
    assert out["p_adj"].iloc[0] == pytest.approx(3 * out["p"].iloc[0])  # 3 tests, all at the same p
    assert out["p_min_adj"].iloc[0] == pytest.approx(3 * 2 / 120**3)


def test_claim_combines_its_tests_and_the_evidence_names_the_deciding_test():
    df = table(lambda lr, s: lr + 0.01 * s)
    df["z"] = df["y"] * -1
    df["w"] = [0.3, 0.1, 0.2] * 5  # no relation with lr
    both = Claim("c", "", (Check(LR, "y", "higher"), Check(LR, "z", "lower")))
    one_fails = Claim("d", "", (Check(LR, "y", "higher"), Check(LR, "z", "higher")))
    one_unclear = Claim("e", "", (Check(LR, "y", "higher"), Check(LR, "w", "higher")))
    out = claim_table(evaluate_claims(df, [both, one_fails, one_unclear]))
    assert list(out["outcome"]) == [HOLDS, FAILS, INCONCLUSIVE]
    assert out["evidence"].iloc[0].startswith("all 2 tests hold. ρ̄(LR, y) = 1.00")
    assert out["evidence"].iloc[1].startswith("decided by z: does not hold (opposite sign). ρ̄(LR, y)")
    assert out["evidence"].iloc[2].startswith("decided by w: inconclusive (")
    assert combine([]) == INCONCLUSIVE and combine([HOLDS, INCONCLUSIVE, FAILS]) == FAILS


def test_query_selects_the_claims_runs():
    df = table(lambda lr, s: lr)
    out = evaluate_claims(df, [Claim("q", "", (Check(LR, "y", "higher"),), query="`cfg.optim.lr` < 0.5")])
    assert out["n"].iloc[0] == 12


def test_rises_with_takes_directions_and_skips_undirected_keys():
    tests = rises_with(LR, ["a", "b", "c", "d"], {"a": "higher", "b": "lower", "c": None})
    assert [(t.y, t.expect) for t in tests] == [("a", "higher"), ("b", "lower")]
    assert rises_with("cfg.train.bc_weight", ["a"], {"a": "higher"}) == (Check("cfg.train.bc_weight", "a", "higher"),)


def test_a_controlled_test_runs_within_strata_of_the_control():
    """Claim 5b's shape: y and x both rise with the LR, and within an LR they are unrelated: the LR-stratified
    test finds nothing although the pooled rank correlation is strong."""
    df = table(lambda lr, s: 0.0)
    orders = [(0, 1, 2), (2, 1, 0), (0, 2, 1), (1, 2, 0), (1, 0, 2)]  # per LR: within-stratum rho 1, -1, .5, -.5, .5
    df["x"] = np.log10(df[LR]) + 0.001 * df["cfg.seeds.init"]
    df["y"] = np.log10(df[LR]) + 0.001 * np.array(
        [orders[LRS.index(lr)][s] for lr, s in zip(df[LR], df["cfg.seeds.init"])]
    )
    assert sps.spearmanr(df["x"], df["y"]).pvalue < 1e-3
    r = one(df, Check("x", "y", "higher", control=LR))
    assert r["design"] == "stratified by LR" and r["blocks"] == 5 and r["verdict"] == INCONCLUSIVE
    strata = [sps.spearmanr(g["x"], g["y"]).statistic for _, g in df.groupby(LR)]
    assert r["rho"] == pytest.approx(np.mean(strata)) and r["rho"] == pytest.approx(0.1)  # mean within strata
    assert r["p"] == pytest.approx(stats.trend_test(df["x"].to_numpy(), df["y"].to_numpy(), pd.factorize(df[LR])[0]).p)
    df["y"] = df["x"] * 2  # now y follows x within every stratum: (3!)^5 orders, 2 of them perfect
    r = one(df, Check("x", "y", "higher", control=LR))
    assert r["verdict"] == HOLDS and r["p"] == pytest.approx(2 / 6**5)


def test_non_finite_and_non_numeric_values_are_dropped_and_no_status_means_all_runs():
    df = table(lambda lr, s: lr + s).drop(columns="status")
    df["y"] = df["y"].astype(object)
    df.loc[0, "y"] = float("inf")
    df.loc[1, "y"] = "n/a"
    df.loc[2, "y"] = float("nan")
    r = one(df, Check(LR, "y", "higher"))
    assert r["n"] == 12 and r["verdict"] == HOLDS


def test_unshared_seeds_are_an_unblocked_design():
    df = table(lambda lr, s: lr)
    df["cfg.seeds.init"] = range(15)  # every run its own seed
    r = one(df, Check(LR, "y", "higher"))
    assert r["design"] == "unblocked" and r["blocks"] == 1 and r["method"].startswith("Monte Carlo")
    assert r["rho"] == pytest.approx(sps.spearmanr(df[LR], df["y"]).statistic)


def test_worst_group_accuracy_on_small_groups_is_judged_by_the_declared_substitute():
    df = table(lambda lr, s: 0.0)
    df["test/worst_group_acc"] = 0.0  # at the floor everywhere, on groups of 20 test images
    df["test/worst_class_acc_bc"] = np.log10(df[LR]) + 0.01 * df["cfg.seeds.init"]
    df["test/min_group_n"] = 20.0
    r = one(df, Check(LR, "test/worst_group_acc", "higher"))
    assert r["judged"] == "test/worst_class_acc_bc" and r["verdict"] == HOLDS
    assert r["why"].startswith("smallest test group: 20 samples < 100, so judged by worst-class bias-conflicting")
    assert "worst-class bias-conflicting accuracy (ours)" in r["statistic"]
    df["test/min_group_n"] = 500.0  # big enough: the raw key decides, and its group size is still shown
    r = one(df, Check(LR, "test/worst_group_acc", "higher"))
    assert r["judged"] == "test/worst_group_acc" and r["why"] == "y is constant; smallest test group: 500 samples"


def test_convergence_is_in_the_verdict_cell():
    df = table(lambda lr, s: lr)
    df["converged"] = [True] * 7 + [False] * 8
    row = claim_table(evaluate_claims(df, [Claim("1", "t", (Check(LR, "y", "higher"),))])).iloc[0]
    assert row["verdict"] == "holds (at a fixed budget: 7/15 converged)"
    assert converged_text(15, 8) == "8/15 converged" and converged_text(4, 1) == "at a fixed budget: 1/4 converged"


def test_statistic_text_names_axis_control_effect_p_and_design():
    df = table(lambda lr, s: math.log(lr) + s)
    r = one(df, Check(LR, "y", "higher"), labels={"y": "acc_BC"})
    assert r["statistic"] == (
        f"ρ̄(LR, acc_BC) = 1.00, Δ = +4.61 [+4.61, +4.61], p = {stats.fmt_p(2 / 120**3)}, "
        f"adj. {stats.fmt_p(2 / 120**3)} (exact; 3 seed blocks, n = 15)"
    )
    row = {"rho": float("nan"), "n": 2}
    assert statistic_text(Check("cfg.train.bc_weight", "y", "higher", control=LR), row, {}) == (
        "ρ̄(λ, y | LR) undefined, n = 2"
    )
    assert [stats.fmt_p(p) for p in (0.0123, 0.000999, 1e-15, 9e-16, float("nan"))] == [
        "0.012", "1.0e-03", "1.0e-15", "< 1e-15", "n/a"
    ]  # fmt: skip


def test_rule_is_one_paragraph_stating_the_level_and_the_family():
    assert "\n" not in RULE and "adj. p < 0.05" in RULE and "Holm-adjusted" in RULE and "no effect" in RULE


def test_claims_keep_their_order_columns_and_their_own_axis():
    df = table(lambda lr, s: lr)
    df["cfg.train.bc_weight"] = [1.0, 2.0, 4.0] * 5  # the seed index doubles as a lambda here
    df["w"] = df["cfg.train.bc_weight"] * 10 + df["cfg.seeds.init"]
    by_lr = Claim("b", "by lr", (Check(LR, "y", "higher"),))
    by_w = Claim("a", "by lambda", (Check("cfg.train.bc_weight", "w", "higher"),), axis="cfg.train.bc_weight")
    custom = Claim("c", "own", (), checks=lambda d: [(f"{len(d)} runs", d, Check(LR, "y", "higher"))])
    out = evaluate_claims(df, [by_lr, custom, by_w])
    assert list(out.columns) == TEST_COLUMNS
    # by LR: grouped on lambda (3 groups of 5 runs); by lambda: grouped on the LR (5 groups of 3 runs)
    assert list(out["claim"]) == ["b"] * 3 + ["c"] + ["a"] * 5
    assert list(out["group"].iloc[:3]) == ["train.bc_weight=1", "train.bc_weight=2", "train.bc_weight=4"]
    assert out["group"].iloc[3] == "15 runs"  # the claim's own checks see the claim's runs
    assert list(out["group"].iloc[4:]) == [f"optim.lr={v}" for v in ("0.01", "0.03", "0.1", "0.3", "1")]
    assert list(out["n"].iloc[4:]) == [3] * 5 and list(out["rho"].iloc[4:]) == pytest.approx([1.0] * 5)
    assert list(claim_table(out)["claim"]) == ["b"] * 3 + ["c"] + ["a"] * 5  # input order, not sorted
    assert list(claim_table(out.iloc[0:0]).columns) == ["claim", "statement", "setting", "verdict", "outcome",
                                                        "evidence"]  # fmt: skip
    empty = evaluate_claims(df.iloc[0:0], [by_lr])  # no runs: the claim is still there, and says why
    assert list(empty.columns) == TEST_COLUMNS
    assert empty[["group", "verdict", "why", "n"]].values.tolist() == [["all runs", INCONCLUSIVE, "no ok runs", 0]]


def test_measure_reads_the_smallest_effect_from_the_key_or_the_caller():
    df = table(lambda lr, s: lr)
    assert measure(df, Check(LR, "y", "higher"))["delta"] is None
    assert measure(df, Check(LR, "y", "higher"), {"y": 0.02})["delta"] == 0.02
    df["test/acc_bc"] = df["y"]
    assert measure(df, Check(LR, "test/acc_bc", "higher"))["delta"] == 0.01


def test_a_significant_change_below_the_smallest_effect_of_interest_holds_with_a_flag():
    df = table(lambda lr, s: 0.001 * math.log10(lr) + s)  # perfect order within seeds; 2 decades: a change of 0.002
    r = one(df, Check(LR, "y", "higher"), sesoi={"y": 0.01})
    assert r["verdict"] == HOLDS and r["change"] == pytest.approx(0.002)
    assert r["why"] == "but |Δ| < 0.01, below the smallest effect of interest"


def test_terminal_table_by_hand():
    from largelr.report.verdicts import terminal_table

    table = pd.DataFrame(
        {"claim": ["1", "6b"], "setting": ["all runs", "x" * 50], "verdict": ["holds (3/3 converged)", "inconclusive"],
         "evidence": ["all 3 tests hold. ρ̄(...)", "decided by acc: inconclusive (not significant). ρ̄(...)"]}
    )  # fmt: skip
    assert terminal_table(table, width=200).splitlines() == [
        "claim  setting                                   verdict                decided by",
        "-----  ----------------------------------------  ---------------------  " + "-" * 46,
        "1      all runs                                  holds (3/3 converged)  all 3 tests hold",
        "6b     " + "x" * 39 + "…  inconclusive           decided by acc: inconclusive (not significant)",
        "rule and evidence: the report's verdict table; docs/statistics.md",
    ]
    assert all(len(line) <= 80 for line in terminal_table(table, width=80).splitlines()[:4])  # lines cut to width
    assert terminal_table(table.iloc[0:0]) == "no verdicts"


def test_a_claims_convergence_counts_every_run_its_tests_read_once():
    df = table(lambda lr, s: lr + s).assign(run_id=[f"r{i}" for i in range(15)])
    df["converged"] = [True] * 5 + [False] * 10
    halves = Claim("h", "", (), checks=lambda d: [("g", d.iloc[:9], Check(LR, "y", "higher")),
                                                 ("g", d.iloc[6:], Check(LR, "y", "higher"))])  # fmt: skip
    row = claim_table(evaluate_claims(df, [halves])).iloc[0]
    assert row["verdict"].endswith("(at a fixed budget: 5/15 converged)")  # runs 0-14 once each, not 9 + 9
