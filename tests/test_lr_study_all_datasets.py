"""The LR study runs on every procedural dataset by changing only ``data.name``.

Each dataset gets a tiny 2-LR sweep through the same code path as ``largelr sweep`` (in-process
executor), with the default metric set, and then a report. Metrics that need region masks are
skipped by the default set on datasets without masks, never crashed on.
"""

from __future__ import annotations

import pytest

from largelr import store
from largelr.data import DATASETS, file_datasets
from largelr.report import load_results, write_report
from largelr.sweep import grid, run_sweep

PROCEDURAL = [n for n in DATASETS.names() if n not in file_datasets()]


@pytest.mark.parametrize("name", PROCEDURAL)
def test_two_lr_sweep_on_each_procedural_dataset(name, tmp_path, make_cfg, one_thread, require_source):
    if name == "dominoes":
        require_source("fashion_mnist")
    base = make_cfg(f"data.name={name!r}", "eval.metrics=['default']")
    configs = grid(base, {"optim.lr": [0.01, 0.1]})
    summary = run_sweep(configs, tmp_path, progress=False)
    assert summary.errors == []
    assert sum(summary.statuses.values()) == 2
    for cfg in configs:
        rd = store.run_dir(tmp_path, cfg)
        assert store.run_state(rd) == "done"
        run = store.load_run(rd)
        assert run["config"].data.name == name
        metrics = run["result"]["metrics"]
        assert 0.0 <= metrics["test/acc"] <= 1.0
        assert "weights/comp" in metrics and "test/class_sep" in metrics
    df = load_results(tmp_path)
    assert sorted(df["cfg.optim.lr"]) == [0.01, 0.1]
    assert (write_report(tmp_path) / "index.html").is_file()
