"""``largelr report --latex`` and ``--select``: DomainBed-style tables and model selection by validation, on
tables whose answers are worked out by hand, then end to end on real runs."""

from __future__ import annotations

import math
import shutil

import pandas as pd
import pytest

from largelr.cli import main
from largelr.report.latex import per_lr_tables
from largelr.report.select import select_runs, selection_summary


def runs() -> pd.DataFrame:
    """2 trials (seed triples) x 3 LRs; the validation worst-group accuracy peaks at LR 0.1 in trial 0 and at
    0.3 in trial 1; the test one at 0.3 in both. LR 0.3 of trial 0 diverged (never selected)."""
    rows = [
        # lr, seed, status, val wga, test wga, test acc
        (0.01, 0, "ok", 0.20, 0.30, 0.60),
        (0.1, 0, "ok", 0.50, 0.40, 0.70),
        (0.3, 0, "diverged", 0.90, 0.90, 0.90),
        (0.01, 1, "ok", 0.10, 0.20, 0.50),
        (0.1, 1, "ok", 0.30, 0.35, 0.65),
        (0.3, 1, "ok", 0.40, 0.60, 0.80),
    ]
    return pd.DataFrame(
        [
            {
                "cfg.optim.lr": lr, "cfg.seeds.data": s, "cfg.seeds.init": s, "cfg.seeds.order": s, "status": st,
                "val/worst_group_acc": v, "test/worst_group_acc": t, "test/acc": a,
            }
            for lr, s, st, v, t, a in rows
        ]
    )  # fmt: skip


def test_selection_per_trial_by_validation_and_by_the_oracle():
    chosen = select_runs(runs(), "worst_group_acc")
    assert list(zip(chosen["trial"], chosen["cfg.optim.lr"])) == [("0/0/0", 0.1), ("1/1/1", 0.3)]
    oracle = select_runs(runs(), "worst_group_acc", oracle=True)
    assert list(zip(oracle["trial"], oracle["cfg.optim.lr"])) == [("0/0/0", 0.1), ("1/1/1", 0.3)]
    props = {"test/acc": "test accuracy", "test/worst_group_acc": "worst-group accuracy"}
    s = selection_summary(runs(), "worst_group_acc", props)
    assert list(s["selection"]) == ["val/worst_group_acc", "oracle (test/worst_group_acc)"]
    assert s.loc[0, "lr chosen"] == "0.1 ×1, 0.3 ×1" and s.loc[0, "trials"] == 2
    # selected test accuracies 0.70 and 0.80: mean 0.75, SE = std / sqrt(2) = 0.0707 / 1.414 = 0.05
    assert math.isclose(s.loc[0, "test/acc mean"], 0.75) and math.isclose(s.loc[0, "test/acc se"], 0.05)


def test_ties_go_to_the_smaller_lr():
    df = runs()
    df.loc[df["cfg.seeds.init"] == 1, "val/worst_group_acc"] = 0.4
    chosen = select_runs(df, "worst_group_acc")
    assert list(chosen["cfg.optim.lr"]) == [0.1, 0.01]


def test_latex_table_by_hand():
    text = per_lr_tables(runs(), {"test/acc": "test accuracy", "test/worst_group_acc": "worst-group acc"}, "my_study")
    # LR 0.01: acc 0.60, 0.50 -> 0.550 ± 0.050; wga 0.30, 0.20 -> 0.250 ± 0.050
    # LR 0.1: acc 0.70, 0.65 -> 0.675 ± 0.025; wga 0.40, 0.35 -> 0.375 ± 0.025; LR 0.3: one ok run
    assert text == "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            r"\caption{my\_study: all runs. Mean $\pm$ standard error over seeds of the runs that finished ok (n).}",
            r"\label{tab:my-study-0}",
            r"\begin{tabular}{lccc}",
            r"\toprule",
            r"\textbf{LR} & \textbf{test accuracy} & \textbf{worst-group acc} & \textbf{n} \\",
            r"\midrule",
            r"0.01 & 0.550 $\pm$ 0.050 & 0.250 $\pm$ 0.050 & 2 \\",
            r"0.1 & 0.675 $\pm$ 0.025 & 0.375 $\pm$ 0.025 & 2 \\",
            r"0.3 & 0.800 & 0.600 & 1 \\",
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
        ]
    )


def test_report_latex_and_select_on_real_runs(two_runs, tmp_path, capsys):
    study = tmp_path / "study"
    shutil.copytree(two_runs, study)
    assert main(["report", str(study), "--latex", "--select", "worst_group_acc"]) == 0
    out = capsys.readouterr().out
    assert "model selection by val/worst_group_acc" in out and f"LaTeX tables: {study / 'report' / 'tables.tex'}" in out
    tex = (study / "report" / "tables.tex").read_text()
    assert tex.count(r"\begin{table}") == 2 == tex.count(r"\end{table}")
    body = [line for line in tex.splitlines() if line.startswith(("0.1 &", "0.2 &"))]
    assert len(body) == 2 and all(line.endswith(r"& 1 \\") for line in body)
    sel = pd.read_csv(study / "report" / "selection.csv")
    from largelr import load_results

    df = load_results(study)
    best = df.sort_values(["val/worst_group_acc", "cfg.optim.lr"], ascending=[False, True]).iloc[0]
    assert sel.loc[0, "lr chosen"] == f"{best['cfg.optim.lr']:g} ×1"
    assert math.isclose(sel.loc[0, "test/acc mean"], best["test/acc"])
    # the tiny runs' validation split (200 samples, rho 0.99: 20 per class, round(0.99 * 20) = 20 aligned) has
    # no bias-conflicting sample, so val/acc_bc is undefined and nothing can be selected by it
    assert "val/acc_bc" not in df or df["val/acc_bc"].isna().all()
    assert main(["report", str(study), "--select", "acc_bc", "--out", str(tmp_path / "r2")]) == 0
    out = capsys.readouterr().out
    assert "model selection: no run that finished ok has a finite val/acc_bc, nothing selected" in out
    assert not (tmp_path / "r2" / "selection.csv").exists()


def test_select_takes_only_known_criteria(two_runs, capsys):
    with pytest.raises(SystemExit) as e:
        main(["report", str(two_runs), "--select", "loss"])
    assert e.value.code == 2
    assert "invalid choice: 'loss'" in capsys.readouterr().err
