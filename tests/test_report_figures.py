"""The report's figures (``largelr.report.figures`` / ``plots``) and its page rendering: no global matplotlib
state touched, every panel labelled, legends off the data, captions that match what is drawn, CSV names as
links and numbers that never break across lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from largelr.report import figures, plots
from largelr.report.page import link_csvs, nowrap_numbers
from largelr.report.verdicts import Check, Claim

LR = "cfg.optim.lr"
SRC = Path(__file__).resolve().parent.parent / "src"


def test_importing_and_drawing_leave_the_matplotlib_backend_alone(tmp_path):
    """Every report and reproduce module imported, a figure drawn and saved as PNG: the backend a user chose
    (here through MPLBACKEND) is still the one matplotlib reports, and pyplot was never imported."""
    script = f"""
import pkgutil, importlib, sys, pandas as pd, matplotlib
import largelr.report, largelr.reproduce
for pkg in (largelr.report, largelr.reproduce):
    for m in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{{pkg.__name__}}.{{m.name}}")
from largelr.report import figures
df = pd.DataFrame({{"{LR}": [0.1, 1.0], "status": ["ok", "ok"], "a": [0.1, 0.2]}})
fig = figures.property_vs_lr(df, "a", "a", __import__("pathlib").Path({str(tmp_path)!r}), "a")
print(matplotlib.get_backend(), matplotlib.rcParams["backend"], "matplotlib.pyplot" in sys.modules)
"""
    env = {**os.environ, "MPLBACKEND": "pdf", "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["pdf", "pdf", "False"]
    assert (tmp_path / "figures" / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def hist() -> pd.DataFrame:
    """Dynamics histories: 2 LRs x 2 seeds x 3 steps, every dynamics key."""
    rows = [{"run_id": f"{lr}-{seed}", "lr": lr, "seed": seed, "status": "ok", "step": step,
             **{k: 0.1 * step + lr for k in plots.DYNAMICS}}
            for lr in (0.01, 0.1) for seed in (0, 1) for step in (0, 10, 20)]  # fmt: skip
    return pd.DataFrame(rows)


def drawn(df: pd.DataFrame, hist: pd.DataFrame) -> dict:
    curves = pd.DataFrame([{"lr": lr, "sparsity": s, "acc": 1 - s, "status": "ok"} for lr in (0.01, 0.1)
                           for s in (0.0, 0.5)])  # fmt: skip
    return {
        "property": plots.property_vs_lr(df, "a", "prop a")[0],
        "overlay": plots.normalised_overlay(df, {"a": "prop a", "b": "prop b"})[0],
        "pruning": plots.pruning_curves(curves)[0],
        "dynamics": plots.dynamics_curves(hist)[0],
        "dynamics_tau": plots.dynamics_curves(hist, x="tau")[0],
    }


def test_every_panel_has_axis_labels_a_readable_title_and_no_legend_over_its_lines(hist):
    df = pd.DataFrame({LR: [0.01, 0.1, 1.0, 10.0], "status": ["ok", "ok", "ok", "diverged"],
                       "a": [0.1, 0.2, 0.3, np.nan], "b": [0.3, 0.2, 0.1, np.nan]})  # fmt: skip
    for name, fig in drawn(df, hist).items():
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert panels, name
        for ax in panels:
            assert ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())
            assert ax.get_title() and ax.title.get_fontsize() >= plots.TITLE_PT, name
            assert ax.get_title()[0].isupper(), name
            assert ax.get_legend() is None, name  # the legend is the figure's, outside the axes
        texts = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
        assert all(t.get_fontsize() >= 8 for lg in fig.legends for t in lg.get_texts()), name
        assert not any(t.startswith("lr=") for t in texts), name
    dyn = drawn(df, hist)["dynamics"]
    assert sum(ax.get_visible() for ax in dyn.axes) == len(plots.DYNAMICS)
    assert [t.get_text() for t in dyn.legends[0].get_texts()] == ["learning rate = 0.01", "learning rate = 0.1"]


def test_a_claim_figure_says_one_line_per_setting_only_when_there_are_several(tmp_path):
    claim = Claim("1", "larger LRs help", (Check(LR, "a", "higher"),))
    one = pd.DataFrame({LR: [0.1, 1.0] * 2, "cfg.seeds.init": [0, 0, 1, 1], "status": "ok", "a": [0.1, 0.2, 0.3, 0.4]})
    fig = figures.claim_axis(one, claim.tests[0], claim, {"a": "accuracy"}, tmp_path, "one")
    assert fig.caption.startswith("Accuracy against learning rate: mean ± std over 2 seeds per point (ok runs, 4 ")
    assert fig.caption.endswith("dots = single runs, one line.")
    two = pd.concat([one.assign(**{"cfg.data.rho": 0.9}), one.assign(**{"cfg.data.rho": 0.99})])
    fig = figures.claim_axis(two, claim.tests[0], claim, {"a": "accuracy"}, tmp_path, "two")
    assert fig.caption.endswith("one line per setting.")
    assert len(pd.read_csv(tmp_path / "figures" / "two.csv")) == 4  # 2 settings x 2 LRs


def test_numbers_in_html_text_are_wrapped_whole_and_nothing_else_is():
    frag = "<td>Δ = +0.12 [-0.08, 2.3e-07], 95% of n=15; g1_x, &#x27;mnist5k&#x27;</td><td>a2b</td>"
    n = '<span class="num">{}</span>'.format
    assert nowrap_numbers(frag) == (
        f"<td>Δ = {n('+0.12')} [{n('-0.08')}, {n('2.3e-07')}], {n('95%')} of n={n('15')}; g1_x, "
        "&#x27;mnist5k&#x27;</td><td>a2b</td>"
    )
    assert nowrap_numbers('<img alt="lr 0.1" src="x1.png">') == '<img alt="lr 0.1" src="x1.png">'  # attributes


def test_csv_names_become_links_only_to_files_beside_the_page(tmp_path):
    (tmp_path / "verdicts.csv").write_text("a\n")
    text = "Data: verdicts.csv (rows), tests.csv (not here), figures/x.csv stays."
    assert link_csvs(text, tmp_path, lambda n: f"[{n}]({n})") == (
        "Data: [verdicts.csv](verdicts.csv) (rows), tests.csv (not here), figures/x.csv stays."
    )
