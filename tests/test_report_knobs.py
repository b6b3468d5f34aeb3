"""The knob comparison on a synthetic results table whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from largelr.metrics import Key
from largelr.report import knobs, plots
from largelr.report import stats as st
from largelr.report.sections import knob_sections

SEEDS = range(4)
LRS = [0.01, 0.03, 0.1, 0.3, 1.0]
BATCHES = [25, 50, 100, 200, 400]
DROPOUTS = [0.1, 0.3]  # base 0.0 = unset in model.kwargs (NaN column), as in a real study

KEYS = {
    "p1": Key("p1 (higher)", "higher"),
    "p2": Key("p2 (lower)", "lower"),
    "p3": Key("p3 (higher)", "higher"),
    "p4": Key("p4 (higher)", "higher"),
    "p5": Key("p5 (lower)", "lower"),
    "p_nodir": Key("no direction"),  # no desirable direction: never scored
}


def _row(lr: float, batch: int, dropout: float | None, seed: int) -> dict:
    """Properties by construction. LR: all five move in their desirable direction. Batch size (strength =
    smaller batch): p1 improves, p2 and p3 get worse, p4 and p5 do not depend on it. Dropout: nothing."""
    a, b = np.log(lr), -np.log(batch / 100)  # b grows with batch-size strength
    s = 0.001 * seed  # a per-seed offset far smaller than the steps between settings
    return {
        "status": "ok",
        "cfg.optim.lr": lr,
        "cfg.train.batch_size": batch,
        "cfg.model.kwargs.dropout": dropout,
        "cfg.data.name": "double_mnist",
        "cfg.seeds.init": seed,
        "p1": a + b + s,
        "p2": -a + b + s,  # lower is desirable; rises with batch strength -> worse
        "p3": a - b + s,
        "p4": a + seed,  # independent of the batch size within its sweep (rho = 0)
        "p5": -a - seed,
        "p_nodir": a,
    }


def synthetic() -> pd.DataFrame:
    rows = [_row(lr, 100, None, s) for lr in LRS for s in SEEDS]
    rows += [_row(0.1, b, None, s) for b in BATCHES if b != 100 for s in SEEDS]
    rows += [_row(0.1, 100, d, s) for d in DROPOUTS for s in SEEDS]
    rows.append({**_row(0.1, 25, None, 9), "status": "diverged", "p1": -99.0})  # not ok: ignored
    return pd.DataFrame(rows)


def test_varied_knobs_fill_unset_kwargs_with_the_base_value():
    assert knobs.varied_knobs(synthetic()) == ["lr", "batch_size", "dropout"]
    filled = knobs.with_knob_defaults(synthetic())
    assert set(filled["cfg.model.kwargs.dropout"]) == {0.0, 0.1, 0.3}


def test_consistency_counts_match_the_construction():
    eff = knobs.knob_effects(synthetic(), KEYS)
    counts = knobs.consistency(eff).set_index("knob")
    assert counts.loc["lr", ["tested", "improved", "worsened"]].tolist() == [5, 5, 0]
    # p4 and p5 depend only on the seed in the batch-size sweep: constant within every seed block, so untested
    assert counts.loc["batch_size", ["tested", "improved", "worsened"]].tolist() == [3, 1, 2]
    assert counts.loc["dropout", ["improved", "worsened"]].tolist() == [0, 0]
    assert list(counts.index) == ["lr", "dropout", "batch_size"]  # by improved minus worsened: 5, 0, -1
    assert "p_nodir" not in set(eff["property"])


def test_rho_is_oriented_and_computed_within_seeds_of_the_knobs_own_sweep():
    df = synthetic()
    eff = knobs.knob_effects(df, KEYS).set_index(["knob", "property"])
    # independent: the batch-size sweep = ok runs at the base LR and unset dropout; strength = -batch
    sweep = df[(df["status"] == "ok") & (df["cfg.optim.lr"] == 0.1) & df["cfg.model.kwargs.dropout"].isna()]
    within = [
        stats.spearmanr(-g["cfg.train.batch_size"], g["p2"]).statistic for _, g in sweep.groupby("cfg.seeds.init")
    ]
    assert len(sweep) == 20 and eff.loc[("batch_size", "p2"), "n"] == 20
    assert eff.loc[("batch_size", "p2"), "rho"] == pytest.approx(-np.mean(within))  # p2: lower is desirable
    # p: 5 batch sizes in every one of 4 seed blocks in the same order: 2 of 120^4 joint orders reach |rho| = 1
    assert eff.loc[("batch_size", "p2"), "p_value"] == pytest.approx(2 / 120**4)
    assert np.isnan(eff.loc[("batch_size", "p4"), "rho"])  # constant within each seed: no informative block
    # the change is oriented too: p2 rises by 2 ln 4 across the strength range -400..-25 (linear fit, not exact)
    assert eff.loc[("batch_size", "p2"), "change"] < 0 and eff.loc[("batch_size", "p1"), "change"] > 0
    # the dropout sweep includes the base runs, whose dropout is unset: 3 values x 4 seeds
    assert eff.loc[("dropout", "p1"), "n"] == 12


def test_a_study_of_one_knob_gets_no_knob_section(tmp_path):
    df = synthetic()
    only_lr = df[(df["cfg.train.batch_size"] == 100) & df["cfg.model.kwargs.dropout"].isna()]
    assert knobs.varied_knobs(only_lr) == ["lr"]
    assert knob_sections(only_lr, tmp_path) == []


def test_the_report_section_writes_table_heatmap_and_its_data(tmp_path):
    sections = knob_sections(synthetic(), tmp_path, KEYS)
    assert [s.title for s in sections] == ["Knob comparison: consistency", "Knob comparison: knob × property"]
    table = sections[1].table.set_index("knob")
    assert table.loc["lr", "p2 (lower)"].endswith("*") and table.loc["lr", "p2 (lower)"].startswith("+")
    assert table.loc["batch_size", "p3 (higher)"].startswith("-")
    assert (tmp_path / "figures" / "knob_heatmap.png").stat().st_size > 0
    data = pd.read_csv(tmp_path / "figures" / "knob_heatmap.csv")
    assert len(data) == 3 * 5  # 3 knobs x 5 properties with a direction
    assert "a white cell without a number has no ρ̄" in sections[1].figures[0].caption


def test_heatmap_cells_are_readable_and_cells_without_rho_stay_blank():
    eff = knobs.knob_effects(synthetic(), KEYS)
    eff.loc[eff.index[0], "rho"] = np.nan  # one more cell without a value (dropout's have none: no effect)
    fig, _ = plots.knob_heatmap(eff)
    cells = fig.axes[0].texts
    assert len(cells) == int(np.isfinite(eff["rho"]).sum()) < len(eff) and all(t.get_fontsize() >= 8 for t in cells)
    assert fig.axes[0].title.get_fontsize() >= 10


def test_too_few_runs_give_dashes_not_a_crash(tmp_path):
    """Two runs per knob (an interrupted study): no rho can be computed; the section still renders."""
    df = pd.DataFrame([_row(0.1, 100, None, 0), _row(0.3, 100, None, 0), _row(0.1, 25, None, 0)])
    sections = knob_sections(df, tmp_path, KEYS)
    table = sections[1].table.set_index("knob")
    assert set(table.loc["lr", ["p1 (higher)", "p2 (lower)"]]) == {"–"}
    assert sections[0].table.set_index("knob").loc["lr", "tested"] == 0


def test_three_runs_in_perfect_order_get_the_exact_p_of_one_third():
    """Three runs in perfect rank order: scipy's t-approximation says p = 0, the exact p is 2 of 3! orders."""
    df = pd.DataFrame([_row(lr, 100, None, 0) for lr in (0.01, 0.1, 1.0)] + [_row(0.1, 25, None, 0)])
    eff = knobs.knob_effects(df, KEYS).set_index(["knob", "property"])
    assert eff.loc[("lr", "p1"), "rho"] == pytest.approx(1.0)
    assert eff.loc[("lr", "p1"), "p_value"] == pytest.approx(1 / 3) and eff.loc[("lr", "p1"), "effect"] == "n.s."


# ---------------------------------------------------------------------------------------------
# claim 3's verdict (CLAIM3_RULE) on the synthetic table: holds, does not hold, inconclusive


def claim3(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rule's rows per knob, and the claim's verdict through the report's verdict machinery."""
    from largelr.report.verdicts import claim_table, evaluate_claims

    claim = knobs.claim3(KEYS, "LR uniquely consistent")
    tests = evaluate_claims(df, [claim])
    table = claim_table(tests, [claim])
    assert len(table) == 1 and table["setting"].iloc[0] == "all runs"
    return knobs.claim3_rows(tests).set_index("knob"), table["outcome"].iloc[0]


LR_COL, BATCH_COL, DROP_COL = "cfg.optim.lr", "cfg.train.batch_size", "cfg.model.kwargs.dropout"


def test_claim3_holds_when_only_the_lr_improves_every_property():
    """By construction: LR improves 5/5; batch size worsens p2 and p3. Dropout moves nothing within a seed: its
    row cannot be decided (no data says it improves fewer), so the claim is inconclusive until dropout is shown
    to worsen a property (here p1, by construction)."""
    rows, verdict = claim3(synthetic())
    assert rows["verdict"].to_dict() == {"lr": "holds", "batch_size": "holds", "dropout": "inconclusive"}
    assert rows.loc["batch_size", ["improved", "worsened", "total"]].tolist() == [1, 2, 5]
    assert rows.loc["lr", ["improved", "worsened"]].tolist() == [5, 0]
    assert rows.loc["dropout", ["why", "undecided"]].tolist() == ["neither dominates by intervals", 5]
    assert verdict == "inconclusive"
    df = synthetic()
    df["p1"] -= 10 * df["cfg.model.kwargs.dropout"].fillna(0.0)
    rows, verdict = claim3(df)
    assert rows.loc["dropout", ["verdict", "why"]].tolist() == ["holds", "worsens a property"] and verdict == "holds"


def test_claim3_does_not_hold_when_another_knob_dominates_or_the_lr_worsens_one():
    df = synthetic()
    d = df["cfg.model.kwargs.dropout"].fillna(0.0)  # dropout now moves every property the desirable way
    for key, sign in (("p1", 1), ("p2", -1), ("p3", 1), ("p4", 1), ("p5", -1)):
        df[key] = df[key] + sign * 100 * d
    rows, verdict = claim3(df)
    # dropout's changes (100 x 0.3 on every property) lie far above the LR's: it dominates the LR by intervals
    assert rows.loc["dropout", ["verdict", "why"]].tolist() == ["does not hold", "it dominates the LR by intervals"]
    assert rows.loc["lr", "verdict"] == "holds" and verdict == "does not hold"

    df = synthetic()
    lr_sweep = (df[BATCH_COL] == 100) & df[DROP_COL].isna()
    df.loc[lr_sweep, "p3"] = -np.log(df.loc[lr_sweep, LR_COL])  # p3 (higher = better) now falls with the LR
    rows, verdict = claim3(df)
    assert rows.loc["lr", ["verdict", "why"]].tolist() == ["does not hold", "the LR worsens a property"]
    assert verdict == "does not hold"


def test_claim3_is_inconclusive_when_the_lr_misses_a_property_or_runs_are_too_few():
    df = synthetic()
    df["p4"] = df["cfg.seeds.init"].astype(float) * (1 + 0.01 * np.sin(np.arange(len(df))))  # noise: no knob moves p4
    rows, verdict = claim3(df)
    assert rows.loc["lr", ["verdict", "improved", "undecided"]].tolist() == ["inconclusive", 4, 1]
    assert rows.loc["batch_size", "verdict"] == "holds"  # it worsens p2 and p3
    assert verdict == "inconclusive"

    few = pd.DataFrame([_row(lr, 100, None, 0) for lr in (0.01, 0.1, 1.0)] + [_row(0.1, 25, None, 0)])
    rows, verdict = claim3(few)
    assert set(rows["verdict"]) == {"inconclusive"} and verdict == "inconclusive"

    only_batch = synthetic()[lambda d: (d[LR_COL] == 0.1) & d[DROP_COL].isna()]
    rows, verdict = claim3(only_batch)
    assert rows.loc["lr", ["verdict", "why"]].tolist() == ["inconclusive", "LR not varied"]
    assert rows.loc["batch_size", "verdict"] == "holds"  # its significant worsening decides its own row
    assert verdict == "inconclusive"


def test_claim3_evidence_names_the_row_that_decided():
    from largelr.report.verdicts import evaluate_claims

    df = synthetic()
    lr_sweep = (df[BATCH_COL] == 100) & df[DROP_COL].isna()
    df.loc[lr_sweep, "p3"] = -np.log(df.loc[lr_sweep, LR_COL])
    verdict, evidence = knobs.combine_claim3(evaluate_claims(df, [knobs.claim3(KEYS, "")]))
    assert verdict == "does not hold"
    assert evidence.startswith("decided by lr: does not hold (the LR worsens a property), improves 4/5, worsens 1/5")
    assert st.ALPHA == knobs.ALPHA


def test_dominance_by_intervals_by_hand():
    def tests(*intervals):  # one row per property p0, p1, ...; p1 is a "lower is better" property
        return pd.DataFrame(
            [{"y": f"p{i}", "expect": "lower" if i == 1 else "higher", "ci_low": lo, "ci_high": hi}
             for i, (lo, hi) in enumerate(intervals)]
        )  # fmt: skip

    lr = tests((0.2, 0.3), (-0.3, -0.2))  # oriented: +0.2..0.3 on both
    assert knobs.dominance(lr, tests((0.0, 0.1), (-0.25, -0.15))) == "lr"  # better on p0, overlapping on p1
    assert knobs.dominance(lr, tests((0.4, 0.5), (-0.3, -0.2))) == "knob"  # the knob better on p0
    assert knobs.dominance(lr, tests((0.4, 0.5), (0.0, 0.1))) == ""  # each better on one
    assert knobs.dominance(lr, tests((0.25, 0.35), (-0.35, -0.25))) == ""  # overlapping everywhere
    assert knobs.dominance(lr, tests((float("nan"), float("nan")), (-0.3, -0.2))) == ""  # no interval: no verdict


def test_matched_knobs_select_the_runs_on_their_matched_path_and_state_the_effective_lr():
    """momentum_matched: beta moves with LR = base LR x (1 - beta); the plain momentum runs (LR at base) and the
    LR sweep (beta 0) are not on that path, except the shared base."""
    from largelr.knobs import KNOBS

    rows = [(0.1, 0.0), (0.03, 0.0), (0.3, 0.0), (0.1, 0.5), (0.1, 0.9), (0.05, 0.5), (0.01, 0.9)]
    df = pd.DataFrame(
        [{"status": "ok", "cfg.optim.lr": lr, "cfg.optim.momentum": m, "cfg.train.batch_size": 100,
          "cfg.seeds.init": s} for lr, m in rows for s in (0, 1)]
    )  # fmt: skip
    on_path = knobs.knob_runs(knobs.with_knob_defaults(df), KNOBS["momentum_matched"])
    assert sorted(set(zip(df.loc[on_path.index, "cfg.optim.lr"], on_path["cfg.optim.momentum"]))) == [
        (0.01, 0.9), (0.05, 0.5), (0.1, 0.0)
    ]  # fmt: skip
    assert "cfg.optim.lr" not in on_path  # so the LR does not split the matched sweep into groups
    # the plain LR and momentum sweeps leave out the matched runs (else (LR 0.05, beta 0.5) and (0.1, 0.5) would
    # look like a two-LR sweep at beta 0.5)
    for name in ("lr", "momentum"):
        plain = knobs.knob_runs(knobs.with_knob_defaults(df), KNOBS[name])
        assert not {(0.05, 0.5), (0.01, 0.9)} & set(zip(plain["cfg.optim.lr"], plain["cfg.optim.momentum"]))
    assert set(knobs.varied_knobs(df)) >= {"lr", "momentum", "momentum_matched"}
    assert knobs.effective_text(df.loc[on_path.index]) == "LR/(1−β) 0.1, LR/B 0.0001–0.001"
    assert knobs.effective_text(df[df["cfg.optim.lr"] == 0.1]) == "LR/(1−β) 0.1–1, LR/B 0.001"
