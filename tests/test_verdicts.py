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


def test_rule_text_states_the_thresholds_in_force():
    from largelr.report import verdicts

    assert verdicts.RULE == (
        "Each test is a Spearman rank correlation ρ over the ok runs of one group (runs sharing every setting "
        "but the swept axis and the seeds; a partial Spearman, controlling for the named column, where marked "
        "'|'). A test holds when ρ has the claim's sign with p < 0.05, does not hold when ρ has the opposite "
        "sign with p < 0.05, and is inconclusive otherwise, or when the group has fewer than 5 runs "
        "with values or a single value of x. A claim holds in a group when every one of its tests holds, does "
        "not hold when any test does not hold, and is inconclusive otherwise."
    )


@pytest.mark.parametrize(
    ("rho", "p", "n", "text"),
    [
        (float("nan"), float("nan"), 3, "ρ(LR, acc_BC) undefined, n = 3"),
        (0.5, float("nan"), 3, "ρ(LR, acc_BC) = 0.50, p = n/a, n = 3"),
        (0.834, 0.01234, 15, "ρ(LR, acc_BC) = 0.83, p = 0.012, n = 15"),
        (-0.7, 0.001, 9, "ρ(LR, acc_BC) = -0.70, p = 0.001, n = 9"),
        (0.9, 0.000999, 9, "ρ(LR, acc_BC) = 0.90, p = 1.0e-03, n = 9"),
        (1.0, 1e-15, 9, "ρ(LR, acc_BC) = 1.00, p = 1.0e-15, n = 9"),
        (1.0, 9e-16, 9, "ρ(LR, acc_BC) = 1.00, p < 1e-15, n = 9"),
    ],
)
def test_statistic_text_at_each_p_format_boundary(rho, p, n, text):
    from largelr.report.verdicts import statistic_text

    assert (
        statistic_text(Check(LR, "test/acc_bc", "higher"), {"rho": rho, "p": p, "n": n}, {"test/acc_bc": "acc_BC"})
        == text
    )


def test_statistic_text_names_axes_controls_and_unlabelled_columns():
    from largelr.report.verdicts import statistic_text

    r = {"rho": 0.25, "p": 0.5, "n": 6}
    check = Check("cfg.train.bc_weight", "test/acc", "higher", control="cfg.optim.lr")
    assert statistic_text(check, r, {"test/acc": "accuracy"}) == "ρ(λ, accuracy | LR) = 0.25, p = 0.5, n = 6"
    assert (
        statistic_text(Check("cfg.train.dropout", "y", "lower"), r, {}) == "ρ(train.dropout, y) = 0.25, p = 0.5, n = 6"
    )


def test_exactly_min_n_runs_suffice_and_a_single_x_value_does_not():
    df = table(lambda lr, s: lr, seeds=1)  # 5 runs, y = lr: rho = 1
    r = run_test(df, Check(LR, "y", "higher"))
    assert r["n"] == 5 and r["rho"] == pytest.approx(1.0) and r["verdict"] == HOLDS
    one_lr = table(lambda lr, s: s, seeds=6)
    one_lr = one_lr[one_lr[LR] == 0.1]  # 6 runs at one LR, y varies
    r = run_test(one_lr, Check(LR, "y", "higher"))
    assert r["n"] == 6 and r["verdict"] == INCONCLUSIVE and r["why"] == "too few runs"
    assert math.isnan(r["rho"])


def test_p_equal_to_alpha_is_not_significant(monkeypatch):
    from largelr.report import verdicts

    df = table(lambda lr, s: [0.0, 2.0, 1.0, 3.0, 4.0][LRS.index(lr)] + 0.1 * s)
    r = run_test(df, Check(LR, "y", "higher"))
    assert r["verdict"] == HOLDS
    monkeypatch.setattr(verdicts, "ALPHA", r["p"])  # the same p, now exactly at the level: p < alpha fails
    r2 = run_test(df, Check(LR, "y", "higher"))
    assert r2["p"] == r["p"] and r2["verdict"] == INCONCLUSIVE and r2["why"] == "not significant"


def test_non_finite_and_non_numeric_values_are_dropped_and_no_status_means_all_runs():
    df = table(lambda lr, s: lr).drop(columns="status")  # no status column: every row is a run to use
    df["y"] = df["y"].astype(object)
    df.loc[0, "y"] = float("inf")
    df.loc[1, "y"] = "n/a"
    df.loc[2, "y"] = float("nan")
    r = run_test(df, Check(LR, "y", "higher"))
    assert r["n"] == 12 and r["verdict"] == HOLDS
    assert r["rho"] == pytest.approx(stats.spearmanr(df[LR].iloc[3:], df["y"].iloc[3:].astype(float)).statistic)


def test_a_controlled_test_uses_the_partial_spearman():
    rng = np.random.default_rng(3)
    df = table(lambda lr, s: 0.0)
    df["z"] = rng.normal(size=len(df))
    df["y"] = df["z"] + 0.2 * rng.normal(size=len(df))
    r = run_test(df, Check(LR, "y", "higher", control="z"))
    ref = partial_spearman(df[LR].to_numpy(), df["y"].to_numpy(), df["z"].to_numpy())
    assert (r["rho"], r["p"]) == pytest.approx(ref)
    assert r["rho"] != pytest.approx(stats.spearmanr(df[LR], df["y"]).statistic)


def test_partial_spearman_edge_cases():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert all(math.isnan(v) for v in partial_spearman(x, x[::-1], x))  # x is z: no residual left
    r, p = partial_spearman(np.array([1.0, 2.0, 3.0]), np.array([2.0, 1.0, 3.0]), np.array([1.0, 3.0, 2.0]))
    assert r == pytest.approx(1.0) and math.isnan(p)  # 3 points: n - 3 = 0 degrees of freedom, no p-value
    z = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    r, p = partial_spearman(np.arange(6.0), np.arange(6.0) * 2, z)  # y ranks = x ranks: residuals equal
    assert r == pytest.approx(1.0) and p == 0.0


def test_combine_and_the_evidence_text():
    from largelr.report.verdicts import combine

    assert combine([]) == INCONCLUSIVE
    assert combine([HOLDS, INCONCLUSIVE, FAILS]) == FAILS
    assert combine([HOLDS, INCONCLUSIVE]) == INCONCLUSIVE
    tests = pd.DataFrame(
        {
            "claim": ["1"] * 3,
            "claim_text": ["t"] * 3,
            "group": ["g"] * 3,
            "statistic": ["A", "B", "C"],
            "verdict": [HOLDS, INCONCLUSIVE, FAILS],
            "why": ["", "too few runs", "opposite sign"],
        }
    )
    row = claim_table(tests).iloc[0]
    assert row["evidence"] == "A; B (inconclusive: too few runs); C (does not hold)"
    assert (row["claim"], row["statement"], row["setting"], row["verdict"]) == ("1", "t", "g", FAILS)


def test_a_claim_with_its_own_evaluate_keeps_its_rows():
    own = pd.DataFrame([{"group": "knob=dropout", "verdict": HOLDS, "statistic": "s", "why": ""}])
    out = evaluate_claims(table(lambda lr, s: lr), [Claim("3", "knobs", (), evaluate=lambda d: own)])
    assert out[["claim", "claim_text", "group", "verdict"]].to_dict("records") == [
        {"claim": "3", "claim_text": "knobs", "group": "knob=dropout", "verdict": HOLDS}
    ]
    empty = evaluate_claims(table(lambda lr, s: lr).iloc[0:0], [Claim("1", "", (Check(LR, "y", "higher"),))])
    assert empty.empty and list(empty.columns)[:3] == ["claim", "claim_text", "group"]


def test_two_lrs_and_a_binary_metric_are_enough_for_a_verdict():
    two = table(lambda lr, s: lr, seeds=3)
    two = two[two[LR].isin([0.01, 1.0])]  # 6 runs at 2 LRs
    r = run_test(two, Check(LR, "y", "higher"))
    assert r["n"] == 6 and r["verdict"] == HOLDS and r["why"] == ""
    binary = table(lambda lr, s: float(lr >= 0.3), seeds=2)  # y takes 2 values
    r = run_test(binary, Check(LR, "y", "lower"))
    assert r["verdict"] == FAILS and r["why"] == "opposite sign"


def test_rho_is_shown_from_3_runs_but_decides_nothing_below_min_n():
    three = table(lambda lr, s: lr, seeds=1).iloc[:3]
    r = run_test(three, Check(LR, "y", "higher"))
    assert r["rho"] == pytest.approx(1.0) and r["verdict"] == INCONCLUSIVE and r["why"] == "too few runs"
    r = run_test(three.iloc[:2], Check(LR, "y", "higher"))
    assert math.isnan(r["rho"]) and math.isnan(r["p"])  # 2 runs: no correlation at all
    r = run_test(three, Check(LR, "absent", "higher"))
    assert r["why"] == "not measured: absent"
    r = run_test(three, Check("absent_x", "absent", "higher"))
    assert r["why"] == "not measured: absent_x, absent"


def test_partial_spearman_with_one_degree_of_freedom_has_a_p_value():
    x, y, z = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0]), np.array([1.0, 2.0, 2.5, 1.5])
    r, p = partial_spearman(x, y, z)
    assert abs(r) < 1 and p == pytest.approx(2 * stats.t.sf(abs(r * math.sqrt(1 / (1 - r * r))), 1))
    r, p = partial_spearman(x, np.array([1.0, 3.0, 2.0, 4.0]), x)  # x is z, y is not: x has no residual left
    assert math.isnan(r) and math.isnan(p)


def test_claims_keep_their_order_columns_and_their_own_axis():
    df = table(lambda lr, s: lr)
    df["cfg.train.bc_weight"] = [1.0, 2.0, 4.0] * 5  # the seed index doubles as a lambda here
    df["w"] = df["cfg.train.bc_weight"] * 10 + df["cfg.seeds.init"]
    by_lr = Claim("b", "by lr", (Check(LR, "y", "higher"),))
    by_w = Claim("a", "by lambda", (Check("cfg.train.bc_weight", "w", "higher"),), axis="cfg.train.bc_weight")

    def own(d: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame([{"group": f"{len(d)} runs", "verdict": INCONCLUSIVE, "statistic": "s", "why": "w"}])

    out = evaluate_claims(df, [by_lr, Claim("c", "own", (), evaluate=own), by_w])
    assert list(out.columns) == [
        "claim", "claim_text", "group", "x", "y", "expect", "rho", "p", "n", "verdict", "why", "statistic"
    ]  # fmt: skip
    # by LR: grouped on lambda (3 groups of 5 runs); by lambda: grouped on the LR (5 groups of 3 runs)
    assert list(out["claim"]) == ["b"] * 3 + ["c"] + ["a"] * 5
    assert list(out["claim_text"]) == ["by lr"] * 3 + ["own"] + ["by lambda"] * 5
    assert list(out["group"].iloc[:3]) == ["train.bc_weight=1", "train.bc_weight=2", "train.bc_weight=4"]
    assert out["group"].iloc[3] == "15 runs"  # the claim's own evaluate sees the claim's runs
    assert (out["x"].iloc[0], out["y"].iloc[0], out["expect"].iloc[0]) == (LR, "y", "higher")
    assert list(out["group"].iloc[4:]) == [
        "optim.lr=0.01",
        "optim.lr=0.03",
        "optim.lr=0.1",
        "optim.lr=0.3",
        "optim.lr=1",
    ]
    assert list(out["n"].iloc[4:]) == [3] * 5 and list(out["rho"].iloc[4:]) == pytest.approx([1.0] * 5)
    assert list(claim_table(out)["claim"]) == ["b"] * 3 + ["c"] + ["a"] * 5  # input order, not sorted
    assert list(claim_table(out.iloc[0:0]).columns) == ["claim", "statement", "setting", "verdict", "evidence"]


def test_rises_with_tests_against_the_given_axis():
    tests = rises_with("cfg.train.bc_weight", ["a"], {"a": "higher"})
    assert tests == (Check("cfg.train.bc_weight", "a", "higher"),)
