"""The knob comparison on a synthetic results table whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from largelr.metrics import Key
from largelr.report import knobs
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
    assert counts.loc["batch_size", ["tested", "improved", "worsened"]].tolist() == [5, 1, 2]
    assert counts.loc["dropout", ["improved", "worsened"]].tolist() == [0, 0]
    assert list(counts.index) == ["lr", "dropout", "batch_size"]  # by improved minus worsened: 5, 0, -1
    assert "p_nodir" not in set(eff["property"])


def test_rho_is_oriented_and_computed_within_the_knobs_own_sweep():
    df = synthetic()
    eff = knobs.knob_effects(df, KEYS).set_index(["knob", "property"])
    # independent: the batch-size sweep = ok runs at the base LR and unset dropout; strength = -batch
    sweep = df[(df["status"] == "ok") & (df["cfg.optim.lr"] == 0.1) & df["cfg.model.kwargs.dropout"].isna()]
    res = stats.spearmanr(-sweep["cfg.train.batch_size"], sweep["p2"])
    assert len(sweep) == 20 and eff.loc[("batch_size", "p2"), "n"] == 20
    assert eff.loc[("batch_size", "p2"), "rho"] == pytest.approx(-res.statistic)  # p2: lower is desirable
    assert eff.loc[("batch_size", "p2"), "p_value"] == pytest.approx(res.pvalue)
    assert eff.loc[("batch_size", "p4"), "rho"] == pytest.approx(0.0, abs=1e-12)
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


def test_too_few_runs_give_dashes_not_a_crash(tmp_path):
    """Two runs per knob (an interrupted study): no rho can be computed; the section still renders."""
    df = pd.DataFrame([_row(0.1, 100, None, 0), _row(0.3, 100, None, 0), _row(0.1, 25, None, 0)])
    sections = knob_sections(df, tmp_path, KEYS)
    table = sections[1].table.set_index("knob")
    assert set(table.loc["lr", ["p1 (higher)", "p2 (lower)"]]) == {"–"}
    assert sections[0].table.set_index("knob").loc["lr", "tested"] == 0


def test_groups_smaller_than_min_n_get_rho_but_no_p_and_no_verdict():
    """Three runs in perfect rank order: scipy's t-approximation says p = 0, the exact p is 1/3."""
    df = pd.DataFrame([_row(lr, 100, None, 0) for lr in (0.01, 0.1, 1.0)] + [_row(0.1, 25, None, 0)])
    eff = knobs.knob_effects(df, KEYS).set_index(["knob", "property"])
    assert knobs.MIN_N == 5
    assert eff.loc[("lr", "p1"), "rho"] == pytest.approx(1.0)
    assert np.isnan(eff.loc[("lr", "p1"), "p_value"]) and eff.loc[("lr", "p1"), "effect"] == "n.s."


# ---------------------------------------------------------------------------------------------
# claim 3's verdict (CLAIM3_RULE) on the synthetic table: holds, does not hold, inconclusive


def claim3(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rule's rows per knob, and the claim's verdict through the report's verdict machinery."""
    from largelr.report.verdicts import Claim, claim_table, evaluate_claims

    rows = knobs.claim3_tests(df, KEYS).set_index("x")
    claim = Claim("3", "LR uniquely consistent", (), evaluate=lambda d: knobs.claim3_tests(d, KEYS))
    table = claim_table(evaluate_claims(df, [claim]))
    assert len(table) == 1 and table["setting"].iloc[0] == "all runs"
    return rows, table["verdict"].iloc[0]


LR_COL, BATCH_COL, DROP_COL = "cfg.optim.lr", "cfg.train.batch_size", "cfg.model.kwargs.dropout"


def test_claim3_holds_when_only_the_lr_improves_every_property():
    """By construction: LR improves 5/5; batch size worsens p2 and p3; dropout improves none (fewer)."""
    rows, verdict = claim3(synthetic())
    assert rows["verdict"].to_dict() == {LR_COL: "holds", BATCH_COL: "holds", DROP_COL: "holds"}
    assert verdict == "holds"
    # batch size shows its most significant worsening: p2 and p3 get worse in the same rank order (equal p);
    # p2 comes first. Independent: scipy on the batch-size sweep (base LR, unset dropout), oriented by hand
    # (strength = -batch; p2: lower is desirable, so the sign flips).
    df = synthetic()
    sweep = df[(df["status"] == "ok") & (df[LR_COL] == 0.1) & df[DROP_COL].isna()]
    assert rows.loc[BATCH_COL, "y"] == "p2"
    assert rows.loc[BATCH_COL, "rho"] == pytest.approx(-stats.spearmanr(-sweep[BATCH_COL], sweep["p2"]).statistic)
    batch_text = "batch_size: improves 1/5, worsens 2/5; ρ(batch_size, p2 (lower)) = -0.98, p = "
    assert rows.loc[BATCH_COL, "statistic"].startswith(batch_text)
    assert rows.loc[LR_COL, "statistic"].startswith("lr: improves 5/5, worsens 0/5; ρ(lr, ")


def test_claim3_does_not_hold_when_another_knob_is_as_consistent_or_the_lr_worsens_one():
    df = synthetic()
    d = df[DROP_COL].fillna(0.0)  # dropout now moves every property in its desirable direction (steps of 10+)
    for key, sign in (("p1", 1), ("p2", -1), ("p3", 1), ("p4", 1), ("p5", -1)):
        df[key] = df[key] + sign * 100 * d
    rows, verdict = claim3(df)
    assert rows.loc[DROP_COL, ["verdict", "why"]].tolist() == ["does not hold", "as consistent as the LR"]
    assert rows.loc[LR_COL, "verdict"] == "holds" and verdict == "does not hold"

    df = synthetic()
    lr_sweep = (df[BATCH_COL] == 100) & df[DROP_COL].isna()
    df.loc[lr_sweep, "p3"] = -np.log(df.loc[lr_sweep, LR_COL])  # p3 (higher = better) now falls with the LR
    rows, verdict = claim3(df)
    assert rows.loc[LR_COL, ["verdict", "why"]].tolist() == ["does not hold", "LR worsens a property"]
    assert verdict == "does not hold"


def test_claim3_is_inconclusive_when_the_lr_misses_a_property_or_runs_are_too_few():
    df = synthetic()
    df["p4"] = df["cfg.seeds.init"].astype(float)  # no knob moves p4: the LR improves 4 of 5
    rows, verdict = claim3(df)
    assert rows.loc[LR_COL, "verdict"] == "inconclusive"
    assert rows.loc[LR_COL, "statistic"].startswith("lr: improves 4/5")
    assert rows.loc[BATCH_COL, "verdict"] == "holds"  # it worsens p2 and p3
    assert rows.loc[DROP_COL, "verdict"] == "holds"  # improves 0 < 4
    assert verdict == "inconclusive"

    few = pd.DataFrame([_row(lr, 100, None, 0) for lr in (0.01, 0.1, 1.0)] + [_row(0.1, 25, None, 0)])
    rows, verdict = claim3(few)
    assert set(rows["why"]) == {"too few runs"} and set(rows["verdict"]) == {"inconclusive"}
    assert verdict == "inconclusive"
    assert "undefined" not in rows.loc[LR_COL, "statistic"] and "p = n/a, n = 3" in rows.loc[LR_COL, "statistic"]

    only_batch = synthetic()[lambda d: (d[LR_COL] == 0.1) & d[DROP_COL].isna()]
    rows, verdict = claim3(only_batch)
    assert rows.loc[LR_COL, ["verdict", "why"]].tolist() == ["inconclusive", "LR not varied"]
    assert rows.loc[BATCH_COL, "verdict"] == "holds"  # its significant worsening decides its own row
    assert verdict == "inconclusive"
