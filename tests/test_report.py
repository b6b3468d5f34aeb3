"""Report: tables checked against values computed by hand (and scipy called independently), and a
report built from a hand-written store with ok, failed and diverged runs.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from largelr import store
from largelr.cli import main
from largelr.config import RunConfig, apply_overrides
from largelr.report import figures, load_curves, load_results, plots, tables, write_report
from largelr.report.groups import split_groups

LR = "cfg.optim.lr"


# ---------------------------------------------------------------------------------------------
# tables on a DataFrame built by hand


@pytest.fixture
def df() -> pd.DataFrame:
    """3 LRs x 3 seeds of ok runs, plus one failed and one diverged run, plus a missing value."""
    rows = [
        # lr, seed, status, a, b
        (0.01, 0, "ok", 0.50, 0.9),
        (0.01, 1, "ok", 0.54, 0.8),
        (0.01, 2, "ok", 0.52, 0.9),
        (0.1, 0, "ok", 0.60, 0.7),
        (0.1, 1, "ok", 0.70, np.nan),
        (0.1, 2, "ok", 0.65, 0.5),
        (1.0, 0, "ok", 0.80, 0.6),
        (1.0, 1, "ok", 0.75, 0.4),
        (1.0, 2, "failed", 0.10, 0.1),
        (10.0, 0, "diverged", 0.99, 0.99),
    ]
    return pd.DataFrame(rows, columns=[LR, "cfg.seeds.init", "status", "a", "b"])


def within_seed_rho(d: pd.DataFrame, y: str) -> float:
    """Independent ρ̄: scipy's Spearman within each seed (blocks with two values of each), averaged."""
    rhos = [
        stats.spearmanr(g[LR], g[y]).statistic
        for _, g in d.dropna(subset=[y]).groupby("cfg.seeds.init")
        if g[LR].nunique() > 1 and g[y].nunique() > 1
    ]
    return float(np.mean(rhos))


def test_trend_table_is_within_seeds_with_exact_p(df):
    table = tables.spearman_table(df, {"a": "prop a", "b": "prop b"}).set_index("property")
    ok = df[df["status"] == "ok"]
    # a: all 8 ok runs (failed and diverged runs are excluded even though they would change rho); every seed
    # in perfect order: rho = 1. Blocks of 3, 3 and 2 runs: 6 * 6 * 2 = 72 joint orders, 2 reach |rho| = 1
    assert table.loc["a", "rho"] == pytest.approx(within_seed_rho(ok, "a")) == pytest.approx(1.0)
    assert table.loc["a", "p_value"] == pytest.approx(2 / 72)
    assert table.loc["a", "n"] == 8
    assert table.loc["a", "label"] == "prop a"
    # b: the run with a missing value is dropped (7 runs: blocks of 3, 2, 2 -> 24 orders); b falls in each seed
    assert table.loc["b", "rho"] == pytest.approx(within_seed_rho(ok, "b")) == pytest.approx(-1.0)
    assert table.loc["b", "p_value"] == pytest.approx(2 / 24)
    assert table.loc["b", "n"] == 7
    # a and b declare no desirable direction: described, never judged, and not in the Holm family
    assert table["p_adj"].isna().all() and table["as_paper"].isna().all()


def test_spearman_by_hand_without_ties():
    """rho = 1 - 6 sum d^2 / (n (n^2 - 1)) when there are no ties."""
    lrs = [0.001, 0.01, 0.1, 1.0, 10.0]
    vals = [0.3, 0.1, 0.5, 0.4, 0.9]  # ranks 2 1 4 3 5 vs 1 2 3 4 5: sum d^2 = 4
    d = pd.DataFrame({LR: lrs, "status": "ok", "p": vals})
    rho = tables.spearman_table(d, {"p": "p"})["rho"].iloc[0]  # no seed column: one block of all runs
    assert rho == pytest.approx(1 - 6 * 4 / (5 * 24))


def test_spearman_undefined_cases_give_nan():
    d = pd.DataFrame(
        {
            LR: [0.1, 0.1, 0.1, 1.0],
            "status": ["ok", "ok", "ok", "diverged"],
            "const_lr": [1.0, 2.0, 3.0, 4.0],
            "few": [1.0, np.nan, np.nan, 2.0],
        }
    )
    t = tables.spearman_table(d, {"const_lr": "x", "few": "y", "absent": "z"}).set_index("property")
    assert math.isnan(t.loc["const_lr", "rho"])  # one LR among ok runs
    assert math.isnan(t.loc["few", "rho"]) and t.loc["few", "n"] == 1
    assert math.isnan(t.loc["absent", "rho"]) and t.loc["absent", "n"] == 0


def test_per_lr_summary_by_hand(df):
    s = tables.per_lr_summary(df, {"a": "prop a", "b": "prop b"}).set_index(LR)
    assert list(s.index) == [0.01, 0.1, 1.0, 10.0]
    assert list(s["runs"]) == [3, 3, 3, 1]
    assert list(s["ok"]) == [3, 3, 2, 0]
    assert list(s["failed"]) == [0, 0, 1, 0]
    assert list(s["diverged"]) == [0, 0, 0, 1]

    assert s.loc[0.01, "a mean"] == pytest.approx(0.52)
    assert s.loc[0.01, "a std"] == pytest.approx(0.02)  # sample std (ddof=1) of .50 .54 .52
    assert s.loc[0.01, "a n"] == 3
    assert s.loc[0.1, "b mean"] == pytest.approx(0.6)  # the NaN is skipped
    assert s.loc[0.1, "b std"] == pytest.approx(math.sqrt(0.02))
    assert s.loc[0.1, "b n"] == 2
    # lr=1: the failed run is counted but not averaged
    assert s.loc[1.0, "a mean"] == pytest.approx(0.775)
    assert s.loc[1.0, "a std"] == pytest.approx(math.sqrt(2 * 0.025**2))
    assert s.loc[1.0, "a n"] == 2
    # lr=10: only a diverged run: no value
    assert math.isnan(s.loc[10.0, "a mean"]) and math.isnan(s.loc[10.0, "a std"]) and s.loc[10.0, "a n"] == 0


def test_per_lr_summary_single_seed_has_no_std():
    d = pd.DataFrame({LR: [0.1], "status": ["ok"], "a": [0.3]})
    s = tables.per_lr_summary(d, {"a": "a"})
    assert s["a mean"].iloc[0] == 0.3 and math.isnan(s["a std"].iloc[0]) and s["a n"].iloc[0] == 1


@pytest.mark.parametrize(
    "mean, std, n, text",
    [
        (0.91234, 0.00412, 3, "0.912 ± 0.004 (n=3)"),
        (0.5, float("nan"), 1, "0.500 (n=1)"),
        (float("nan"), float("nan"), 0, "–"),
        (0.5, 0.1, 0, "–"),
        (float("nan"), 0.1, 2, "–"),
        (12.3456, 1.0, 2, "12.346 ± 1.000 (n=2)"),
    ],
)
def test_format_mean(mean, std, n, text):
    assert tables.format_mean(mean, std, n) == text


def test_markdown_table():
    d = pd.DataFrame({"name": ["x|y", "z"], "value": [0.123456, float("nan")], "n": [3, 10], "big": [12345.678, 1e-7]})
    expected = [
        "| name | value | n | big |",
        "|---|---|---|---|",
        "| x\\|y | 0.1235 | 3 | 1.235e+04 |",
        "| z | – | 10 | 1e-07 |",
    ]
    assert tables.markdown_table(d) == "\n".join(expected)


def test_bad_runs_are_marked_on_plots(df):
    fig, data = plots.property_vs_lr(df, "a", "prop a")
    ax = fig.axes[0]
    assert ax.get_legend() is None  # the legend sits below the axes, never over a line
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "diverged (1 runs)" in labels and "failed (1 runs)" in labels
    xs = sorted(float(x) for c in ax.collections for x, _ in c.get_offsets() if x >= 1.0)
    assert 10.0 in xs  # the diverged run's LR is on the plot although no ok run has it
    # the plotted means use ok runs only
    assert list(data[LR]) == [0.01, 0.1, 1.0]
    assert data.set_index(LR).loc[1.0, "mean"] == pytest.approx(0.775)

    fig, _ = plots.normalised_overlay(df, {"a": "prop a", "b": "prop b"})
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "diverged (1 runs)" in labels and "failed (1 runs)" in labels


# ---------------------------------------------------------------------------------------------
# a report from a hand-written store


def fake_run(
    study, lr: float, seed: int, status: str, metrics: dict, *extra: str, converged: bool = False, steps: int = 100
) -> None:
    """Write a finished run directory the way the runner does, without training (``extra``: overrides)."""
    cfg = apply_overrides(RunConfig(), [f"optim.lr={lr}", f"seeds.init={seed}", f"seeds.order={seed}", *extra])
    rd = store.run_dir(study, cfg)
    env = {"git": {"commit": "0123456789abcdef", "dirty": False}, "hostname": "testhost"}
    store.begin(rd, cfg, env)
    result = {
        "run_id": rd.name,
        "status": status,
        "converged": converged,
        "steps": steps,
        "metrics": metrics,
        "seconds": {"total": 1.0},
    }
    store.save_weights(rd, {})  # a finished run has model.pt (else store.verify_run calls it damaged)
    store.finalize(rd, result, {"end_time": "2024-01-01T00:00:00+00:00"})


def prune(acc0: float) -> list[dict]:
    return [{"sparsity": s, "acc": acc0 * (1 - s / 2), "worst_group_acc": acc0 / 2} for s in (0.0, 0.5, 0.9)]


@pytest.fixture
def study(tmp_path):
    """6 ok runs over 3 LRs, one failed and one diverged run at the largest LR, one incomplete run."""
    study = tmp_path / "study"
    values = {0.01: (0.50, 0.52), 0.1: (0.60, 0.66), 1.0: (0.70, 0.74)}
    for lr, accs in values.items():
        for seed, acc in enumerate(accs):
            m = {"test/acc": acc, "test/acc_bc": acc - 0.1, "weights/comp": 2 * acc - 0.5, "test/prune": prune(acc)}
            fake_run(study, lr, seed, "ok", m)
    failed = {"test/acc": 0.1, "test/acc_bc": 0.1, "weights/comp": 0.2, "test/prune": prune(0.1)}
    fake_run(study, 10.0, 0, "failed", failed)
    fake_run(study, 10.0, 1, "diverged", {"test/acc": 0.1, "test/acc_bc": 0.09, "train/loss": 2.3})
    incomplete = store.run_dir(study, apply_overrides(RunConfig(), ["optim.lr=3.0"]))
    store.begin(incomplete, apply_overrides(RunConfig(), ["optim.lr=3.0"]), {})
    return study


def test_load_results_keeps_failed_and_diverged_runs(study):
    df = load_results(study)
    assert len(df) == 8
    assert df["status"].value_counts().to_dict() == {"ok": 6, "failed": 1, "diverged": 1}
    assert list(df[LR]) == sorted(df[LR])
    assert df.attrs["incomplete"] == 1
    assert df.attrs["commits"] == ["0123456789abcdef"]
    div = df[df["status"] == "diverged"].iloc[0]
    assert div["test/acc_bc"] == 0.09 and math.isnan(div["weights/comp"])
    curves = load_curves(study)
    assert set(curves["status"]) == {"ok", "failed"}
    assert len(curves[curves["curve"] == "prune"]) == 7 * 3


def test_report_counts_and_plots_bad_runs(study):
    out = write_report(study)
    assert out == study / "report"
    md = (out / "report.md").read_text()
    assert "8 finished runs (1 diverged, 1 failed, 6 ok), 1 incomplete, 4 learning rates" in md

    per_lr = pd.read_csv(out / "per_lr.csv")
    assert list(per_lr["runs (ok/failed/diverged)"]) == ["2/0/0", "2/0/0", "2/0/0", "0/1/1"]
    acc = per_lr[[c for c in per_lr.columns if "test accuracy" in c][0]]
    assert acc.iloc[0] == "0.510 ± 0.014 (n=2)"
    assert acc.iloc[3] == "–"  # no ok run at lr=10, but the row is there

    sp = pd.read_csv(out / "spearman.csv").set_index("property")
    ok = load_results(study).query("status == 'ok'")
    assert sp.loc["test/acc", "rho"] == pytest.approx(within_seed_rho(ok, "test/acc"))
    assert sp.loc["test/acc", "n"] == 6
    # one group: the whole study, no group headings, the same numbers in the groups table
    assert set(sp["group"]) == {"all runs"} and "Group 1" not in md and "### " not in md
    groups = pd.read_csv(out / "groups.csv").set_index("property")
    assert groups.loc["test/acc", "rho"] == sp.loc["test/acc", "rho"]
    # no run converged: the report says it compares at a fixed budget
    assert "No run converged: these runs are compared at a fixed training budget (100 steps)" in md

    runs = pd.read_csv(out / "runs.csv")
    assert sorted(runs["status"]) == ["diverged", "failed"] + ["ok"] * 6

    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert "test_acc.png" in pngs and "overlay.png" in pngs
    # every figure of the report is embedded in the page, and nothing is fetched from elsewhere
    page = (out / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""src=["'](?!data:image/png;base64,)""", page)
    assert page.count("data:image/png;base64,") == len(pngs) == md.count("](figures/") // 2
    # each figure links the CSV of what it plots (a relative href), in the markdown and in the page
    figure_csvs = re.findall(r'<a href="(figures/[^"]+\.csv)">', page)
    assert len(figure_csvs) == len(pngs) == len(re.findall(r"\]\(figures/[^)]+\.csv\)", md))
    assert all((out / csv).is_file() for csv in figure_csvs)
    # the verdicts come first, the rule below their table, and the CSVs they name are links
    titles = re.findall(r"^## (.+)$", md, flags=re.M)
    assert titles[:2] == ["Verdicts (claims 1-2)", "Summary"]
    assert md.index("| claim |") < md.index("Rule: each test") < md.index("## Summary")
    assert "[verdicts.csv](verdicts.csv)" in md and '<a href="verdicts.csv">verdicts.csv</a>' in page
    assert '<a href="groups.csv">groups.csv</a>' in page


def test_report_when_every_run_failed_or_diverged(tmp_path):
    """A sweep of LRs that are all too large still gets a report (bad runs marked, no means)."""
    study = tmp_path / "study"
    fake_run(study, 10.0, 0, "diverged", {"test/acc": 0.1, "test/acc_bc": 0.1, "test/worst_group_acc": 0.0})
    fake_run(study, 100.0, 0, "failed", {"test/acc": 0.1, "test/acc_bc": 0.1, "test/worst_group_acc": 0.0})
    out = write_report(study)
    md = (out / "report.md").read_text()
    assert "2 finished runs (1 diverged, 1 failed)" in md
    assert (out / "index.html").is_file()


@pytest.fixture
def small_study(tmp_path):
    """Two ok runs, one metric: the cheapest study that gets a full report."""
    study = tmp_path / "small"
    fake_run(study, 0.1, 0, "ok", {"test/acc": 0.5})
    fake_run(study, 1.0, 0, "ok", {"test/acc": 0.6})
    return study


def test_report_replaces_an_old_report_whole(small_study):
    out = write_report(small_study)
    (out / "figures" / "stale.png").write_bytes(b"old")
    write_report(small_study)
    assert not (out / "figures" / "stale.png").exists()
    assert (out / "figures" / "test_acc.png").is_file()
    assert [p.name for p in small_study.iterdir() if p.name.startswith(".report-")] == []


def test_report_directory_gets_the_usual_permissions(small_study, tmp_path):
    """The report is built in a ``tempfile.mkdtemp`` directory (mode 0700) and renamed into place; the
    result should be readable like any directory made with ``mkdir`` (umask), e.g. to share or serve it."""
    probe = tmp_path / "probe"
    probe.mkdir()
    out = write_report(small_study)
    assert oct(out.stat().st_mode & 0o777) == oct(probe.stat().st_mode & 0o777)


# ---------------------------------------------------------------------------------------------
# verdicts from the metrics' declarations, groups, convergence


def test_no_verdict_without_a_declared_direction():
    """Every key rises perfectly with the LR (rho = +1, exact p = 2/5! with n = 5): the declared "higher" key
    is as the paper, the declared "lower" one does not hold, and an undeclared key or one declared without
    a direction (dead units) gets no verdict, never a default "higher"."""
    d = pd.DataFrame({LR: [0.001, 0.01, 0.1, 1.0, 10.0], "status": "ok"})
    for key in ("test/acc", "weights/eff_rank_mean", "made/up_key", "test/dead_frac"):
        d[key] = [1.0, 2.0, 3.0, 4.0, 5.0]
    t = tables.spearman_table(d, {k: k for k in d.columns[2:]}).set_index("property")
    assert t.loc["test/acc", "rho"] == pytest.approx(1.0) and t.loc["test/acc", "p_value"] == pytest.approx(2 / 120)
    assert t.loc["test/acc", "desirable"] == "higher" and t.loc["test/acc", "as_paper"] is True
    rank = t.loc["weights/eff_rank_mean"]
    assert rank["desirable"] == "lower" and rank["as_paper"] is False and rank["verdict"] == "does not hold"
    for key in ("made/up_key", "test/dead_frac"):
        assert pd.isna(t.loc[key, "desirable"]) and pd.isna(t.loc[key, "as_paper"])
    assert tables.markdown_table(t.reset_index()[["property", "as_paper"]]).endswith("| test/dead_frac | – |")


@pytest.fixture
def simpson(tmp_path):
    """Two values of data.rho on different LR ranges. Within each group acc_BC rises with the LR
    (rho = +1 by hand), but the low-LR group has the higher accuracies, so pooled the ranks of
    acc_BC against LR are (4, 5, 6, 1, 2, 3): sum d^2 = 6 * 9 = 54, rho = 1 - 6 * 54 / (6 * 35) = -0.543."""
    study = tmp_path / "simpson"
    for lr, acc in ((0.001, 0.80), (0.002, 0.82), (0.004, 0.84)):
        fake_run(study, lr, 0, "ok", {"test/acc_bc": acc}, "data.rho=0.9")
    for lr, acc in ((0.1, 0.30), (0.2, 0.32), (0.4, 0.34)):
        fake_run(study, lr, 0, "ok", {"test/acc_bc": acc}, "data.rho=0.99")
    return study


def test_simpson_case_gives_the_within_group_sign(simpson):
    df = load_results(simpson)
    pooled = tables.spearman_table(df, {"test/acc_bc": "acc_bc"})["rho"].iloc[0]
    assert pooled == pytest.approx(1 - 6 * 54 / (6 * 35))  # what pooling would report
    out = write_report(simpson)
    g = pd.read_csv(out / "groups.csv")
    assert sorted(g["group"]) == ["data.rho=0.9", "data.rho=0.99"]
    sp = pd.read_csv(out / "spearman.csv").query("property == 'test/acc_bc'").set_index("group")
    assert list(sp["rho"]) == [pytest.approx(1.0), pytest.approx(1.0)]
    assert list(sp["n"]) == [3, 3]
    md = (out / "report.md").read_text()
    assert "## Headline properties by group" in md
    assert "### Group 1: data.rho=0.9" in md or "## Group 1: data.rho=0.9" in md
    assert "2 groups of runs differing in data.rho" in md
    per_lr = pd.read_csv(out / "per_lr.csv")
    assert per_lr.groupby("group").size().to_dict() == {"data.rho=0.9": 3, "data.rho=0.99": 3}
    figs = {p.name for p in (out / "figures").glob("*.png")}
    assert {"g1_test_acc_bc.png", "g2_test_acc_bc.png"} <= figs


def test_groups_table_cells_by_hand():
    """Headline cells: ρ̄ with its sign, the adjusted p and n, ✓ when the test holds, ✗ when it does not."""
    lrs = [0.01, 0.03, 0.1, 1.0, 10.0]
    d = pd.DataFrame({LR: lrs * 2, "status": "ok", "cfg.data.rho": [0.9] * 5 + [0.99] * 5})
    d["test/acc"] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1]
    shown, long = tables.groups_table(split_groups(d), {"test/acc": "acc"})
    # n = 5 in one block, rho = +-1: exact p = 2/120 each; Holm over the table's 2 tests: 2 x 2/120 = 0.033
    assert list(shown["acc"]) == ["+1.00 (p_adj=0.033, n=5) ✓", "-1.00 (p_adj=0.033, n=5) ✗"]
    assert list(long["as_paper"]) == [True, False]
    four = d[d[LR] != 0.03]  # 4 runs per group: 2/24 = 0.083 at best, never significant
    shown, _ = tables.groups_table(split_groups(four), {"test/acc": "acc"})
    assert list(shown["acc"]) == ["+1.00 (p_adj=0.17, n=4)", "-1.00 (p_adj=0.17, n=4)"]
    assert tables.rho_cell(float("nan"), float("nan"), 2, None) == "– (n=2)"
    assert tables.rho_cell(0.5, 0.3, 5, "inconclusive") == "+0.50 (p_adj=0.3, n=5)"


@pytest.fixture
def converging(tmp_path):
    """lr 0.1: 2 runs, one converged at step 300; lr 1.0: 3 runs converged at 100, 200, 600 steps.
    acc rises with LR among converged runs; the unconverged run at lr 0.1 has the highest acc."""
    study = tmp_path / "conv"
    fake_run(study, 0.1, 0, "ok", {"test/acc": 0.5}, converged=True, steps=300)
    fake_run(study, 0.1, 1, "ok", {"test/acc": 0.95}, converged=False, steps=1000)
    for seed, (steps, acc) in enumerate(((100, 0.7), (200, 0.8), (600, 0.9))):
        fake_run(study, 1.0, seed, "ok", {"test/acc": acc}, converged=True, steps=steps)
    return study


def test_convergence_table_and_converged_only(converging, tmp_path):
    out = write_report(converging)
    conv = pd.read_csv(out / "convergence.csv").set_index(LR)
    assert list(conv["runs"]) == [2, 3] and list(conv["converged"]) == [1, 2 + 1]
    assert conv.loc[0.1, "step median"] == 300 and conv.loc[1.0, "step median"] == 200
    assert conv.loc[1.0, "step min"] == 100 and conv.loc[1.0, "step max"] == 600
    md = (out / "report.md").read_text()
    assert "4 of 5 runs converged; statistics use all ok runs" in md
    assert pd.read_csv(out / "spearman.csv").set_index("property").loc["test/acc", "n"] == 5

    # the CLI flag and the API keyword: the unconverged run leaves every statistic
    assert main(["report", str(converging), "--out", str(tmp_path / "rep"), "--converged-only"]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Claims use converged runs only" in md and "statistics use only the converged ones" in md
    sp = pd.read_csv(tmp_path / "rep" / "spearman.csv").set_index("property")
    # converged: lr 0.1 -> 0.5; lr 1.0 -> 0.7, 0.8, 0.9: ranks of acc equal ranks of LR up to the ties
    ok = load_results(converging).query("converged")
    assert sp.loc["test/acc", "n"] == 4
    assert sp.loc["test/acc", "rho"] == pytest.approx(within_seed_rho(ok, "test/acc"))
    out2 = write_report(converging, tmp_path / "api", converged_only=True)
    assert (out2 / "spearman.csv").read_text() == (tmp_path / "rep" / "spearman.csv").read_text()


# ---------------------------------------------------------------------------------------------
# boundaries of the tables (each test pins what a one-character change to tables.py would alter)


def test_trend_table_boundaries_and_directions():
    # keys with declared directions: test/acc_bc (higher), weights/eff_rank_mean (lower)
    d = pd.DataFrame({LR: [0.01, 0.1, 1.0, 10.0, 100.0], "status": "ok"})
    d["test/acc_bc"] = [0.0, 0.0, 1.0, 1.0, 1.0]  # a binary metric still has a rank correlation
    d["weights/eff_rank_mean"] = [5.0, 4.0, 3.0, 2.0, 1.0]  # falls with the LR: as the paper
    d["two"] = [1.0, 2.0, np.nan, np.nan, np.nan]  # 2 runs with values: no correlation
    t = tables.spearman_table(d, {"test/acc_bc": "a", "weights/eff_rank_mean": "r", "two": "t"}).set_index("property")
    assert t.loc["test/acc_bc", "rho"] == pytest.approx(stats.spearmanr(d[LR], d["test/acc_bc"]).statistic)
    assert t.loc["test/acc_bc", "rho"] == pytest.approx(math.sqrt(3) / 2)  # by hand: 5 runs, ties 2 + 3
    # exact p with ties in y: |rho| = sqrt(3)/2 only when the two zeros sit at the two ends: 2! 3! x 2 of 5!
    assert t.loc["test/acc_bc", "p_value"] == pytest.approx(2 * 2 * 6 / 120)
    assert t.loc["weights/eff_rank_mean", "rho"] == pytest.approx(-1.0)
    assert t.loc["weights/eff_rank_mean", "desirable"] == "lower" and bool(t.loc["weights/eff_rank_mean", "as_paper"])
    assert math.isnan(t.loc["two", "rho"]) and t.loc["two", "n"] == 2 and t.loc["two", "as_paper"] is None
    # the family is the two directed keys: Holm multiplies the smaller p by 2
    assert t.loc["weights/eff_rank_mean", "p_adj"] == pytest.approx(2 * 2 / 120)
    # exactly 3 runs are enough for a rho
    t3 = tables.spearman_table(d.iloc[:3].assign(q=[1.0, 3.0, 2.0]), {"q": "q"})
    assert t3["rho"].iloc[0] == pytest.approx(0.5) and t3["n"].iloc[0] == 3
    # a rise in the desirable direction that is not significant is not "as the paper"
    weak = d.assign(**{"test/acc_bc": [0.2, 0.1, 0.4, 0.3, 0.35]})
    w = tables.spearman_table(weak, {"test/acc_bc": "a"}).iloc[0]
    assert w["rho"] > 0 and w["p_value"] > 0.05 and not w["as_paper"] and w["verdict"] == "inconclusive"


def test_rho_cell_marks_the_verdict():
    assert tables.rho_cell(-0.5, 0.01, 9, "does not hold") == "-0.50 (p_adj=0.01, n=9) ✗"
    assert tables.rho_cell(-0.5, 0.01, 9, "inconclusive") == "-0.50 (p_adj=0.01, n=9)"
    assert tables.rho_cell(0.5, 0.01, 9, None) == "+0.50 (p_adj=0.01, n=9)"  # no direction, no mark
    assert tables.rho_cell(0.5, 0.0001, 9, "holds") == "+0.50 (p_adj=1.0e-04, n=9) ✓"


def test_groups_table_shows_the_chosen_columns_against_any_axis():
    drop = [0.0, 0.1, 0.2, 0.3, 0.4]
    d = pd.DataFrame({"cfg.train.dropout": drop * 2, "status": "ok", LR: [0.1] * 5 + [1.0] * 5})
    d["test/acc"] = [0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5]
    d["test/acc_bc"] = 1 - d["test/acc"]
    groups = split_groups(d, axis="cfg.train.dropout")
    shown, long = tables.groups_table(
        groups, {"test/acc": "acc", "test/acc_bc": "acc_bc"}, ["test/acc"], x="cfg.train.dropout"
    )
    assert list(shown.columns) == ["group", "runs", "acc"]
    # 4 tests in the family, each exact p = 2/120: Holm gives 4 x 2/120 = 0.067 for all: none significant
    assert shown.to_dict("records") == [
        {"group": "optim.lr=0.1", "runs": 5, "acc": "-1.00 (p_adj=0.067, n=5)"},
        {"group": "optim.lr=1", "runs": 5, "acc": "+1.00 (p_adj=0.067, n=5)"},
    ]
    assert list(long.columns) == [
        "group", "property", "label", "rho", "change", "ci_low", "ci_high", "p_value", "p_adj", "n", "desirable",
        "verdict", "why", "as_paper",
    ]  # fmt: skip
    assert list(long["rho"]) == pytest.approx([-1.0, 1.0, 1.0, -1.0])  # every property, shown or not


def test_per_lr_summary_of_a_property_no_run_has():
    d = pd.DataFrame({LR: [0.1, 0.1], "status": "ok", "a": [0.3, 0.5]})
    s = tables.per_lr_summary(d, {"a": "a", "absent": "z"}).iloc[0]
    assert s["a mean"] == pytest.approx(0.4) and s["a std"] == pytest.approx(math.sqrt(0.02)) and s["a n"] == 2
    assert math.isnan(s["absent mean"]) and math.isnan(s["absent std"]) and s["absent n"] == 0


def test_converged_only_with_no_converged_run_and_a_property_without_values(study, capsys):
    """`report --converged-only` on a study where no run converged, and a property no run has a value of:
    a report that says so, no traceback (issue 20's cases in the report code)."""
    fake_run(study, 0.3, 0, "ok", {"test/acc": 0.6, "test/acc_bc": float("nan")})  # acc_bc measured nowhere
    assert main(["report", str(study), "--converged-only", "--out", str(study / "conv")]) == 0
    md = (study / "conv" / "report.md").read_text()
    assert "No run converged" in md
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "report: " in cap.out


def test_damaged_runs_are_not_counted_as_incomplete(study):
    from largelr.report.collect import load_results

    before = load_results(study).attrs
    victim = next(d for d in store.run_dirs(study) if store.run_state(d) == "done")
    (victim / "history.jsonl").unlink()  # a required file missing: damaged
    after = load_results(study).attrs
    assert after["incomplete"] == before["incomplete"] and victim.name in after["damaged"]


def test_attribution_maps_compare_runs_on_the_same_dataset_draw_and_images():
    """The lowest- and highest-LR maps must average over the same test images: same data seed, same indices."""
    import pandas as pd

    from largelr.report import plots

    heat, idx = [[0.0, 1.0], [1.0, 0.0]], [3, 1, 4]

    def run(rid, lr, data_seed, converged=True, images=idx):
        return {"run_id": rid, "lr": lr, "seed": data_seed, "data_seed": data_seed, "converged": converged,
                "map": heat, "mask": None, "images": images}  # fmt: skip

    # first rows of each LR disagree on the data seed (the old choice); only seed 1 is shared
    maps = pd.DataFrame([run("a0", 0.01, 0), run("a1", 0.01, 1), run("b2", 0.3, 2), run("b1", 0.3, 1)])
    _, data = plots.attribution_maps(maps)
    assert list(data["run_id"]) == ["a1", "b1"] and data["same_images"].all()
    assert "same dataset draw (data seed 1)" in figures.attribution_caption(data)
    # converged pairs are preferred among those sharing a draw
    maps = pd.DataFrame([run("a0", 0.01, 0, False), run("a1", 0.01, 1), run("b0", 0.3, 0), run("b1", 0.3, 1)])
    assert list(plots.attribution_maps(maps)[1]["run_id"]) == ["a1", "b1"]
    # same data seed but other test images: not the same images
    maps = pd.DataFrame([run("a0", 0.01, 0), run("b0", 0.3, 0, images=[2, 7, 1])])
    _, data = plots.attribution_maps(maps)
    assert not data["same_images"].any() and "different test images" in figures.attribution_caption(data)
