"""``largelr.evaluate_predictions``: a user's predictions scored with the robustness metric's definitions, and
the documented examples of a user's own model (docs/own-model.md) run as written."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import largelr
from largelr.data import Split, SpuriousDataset
from largelr.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def toy() -> SpuriousDataset:
    """2 classes, 2 attributes; test: one sample per group (y, s) = (0,0), (0,1), (1,1), (1,0)."""
    y, s = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 0])
    split = Split(x=torch.zeros(4, 1), y=y, s=s, aligned=y == s)
    ty, ts = torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 1, 1])  # train groups: (0,0) x2, (0,1), (1,1)
    train = Split(x=torch.zeros(4, 1), y=ty, s=ts, aligned=ty == ts)
    return SpuriousDataset("toy", 2, 2, {"train": train, "val": split, "test": split}, spurious_class=(0, 1))


def test_scores_by_hand():
    # predictions 0, 1, 1, 1: right on groups (0,0), (1,1), (1,0); wrong on (0,1), predicting its attribute's class
    got = largelr.evaluate_predictions(toy(), [0, 1, 1, 1])
    assert got["test/acc"] == 0.75
    assert got["test/acc_ba"] == 1.0  # samples 0 and 2
    assert got["test/acc_bc"] == 0.5  # samples 1 (wrong) and 3 (right)
    assert got["test/worst_group_acc"] == 0.0 and got["test/unbiased_acc"] == 0.75
    assert got["test/group_acc"] == [[1.0, 0.0], [1.0, 1.0]]
    assert got["test/bias_following"] == 1.0  # the one BC error predicts the class its attribute pulls to
    # train proportions (0,0) 1/2, (0,1) 1/4, (1,1) 1/4, (1,0) 0: 1/2*1 + 1/4*0 + 1/4*1
    assert got["test/avg_acc"] == 0.75
    assert got["test/min_group_n"] == 1.0 and got["test/worst_class_acc_bc"] == 0.0


def test_scores_take_logits_numpy_and_the_val_split():
    import numpy as np

    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [-1.0, 1.0]])
    assert largelr.evaluate_predictions(toy(), logits) == largelr.evaluate_predictions(toy(), np.array([0, 1, 1, 1]))
    assert set(largelr.evaluate_predictions(toy(), [0, 1, 1, 1], split="val")) == {
        k.replace("test/", "val/") for k in largelr.evaluate_predictions(toy(), [0, 1, 1, 1])
    }


@pytest.mark.parametrize(
    ("preds", "split", "message"),
    [
        ([0, 1, 1], "test", "shape (4,) labels or (4, 2) scores"),
        ([0, 1, 1, 2], "test", "must lie in [0, 2)"),
        ([0.5, 1, 1, 1], "test", "whole numbers"),
        ([0, 1, 1, 1], "holdout", "unknown split 'holdout'"),
    ],
)
def test_bad_predictions_are_user_errors(preds, split, message):
    with pytest.raises(UserError, match=re.escape(message)):
        largelr.evaluate_predictions(toy(), preds, split=split)


def test_the_same_numbers_as_the_robustness_metric_of_a_run(make_cfg, one_thread):
    """A trained model's predictions, scored here, give exactly what its evaluation computed."""
    from largelr.data import build_dataset
    from largelr.evaluate import evaluate
    from largelr.train import train

    cfg = make_cfg()
    data = build_dataset(cfg.data, cfg.seeds.data)
    model = train(cfg, data).model
    metrics, _ = evaluate(model, data, cfg.eval)
    with torch.no_grad():
        mine = largelr.evaluate_predictions(data, model(data.splits["test"].x))
    for key, value in mine.items():
        same = value == metrics[key] or (isinstance(value, float) and math.isnan(value) and math.isnan(metrics[key]))
        assert same, key


def doc_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "docs" / page).read_text(), flags=re.S)


@pytest.mark.slow
@pytest.mark.parametrize("block", [0, 1], ids=["own-loop", "registered"])
def test_the_own_model_examples_run_as_written(block, tmp_path):
    code = doc_blocks("own-model.md")[block]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    if block == 0:
        printed = eval(out.stdout.strip().splitlines()[-1])  # the example prints a dict of three scores
        assert set(printed) == {"test/acc", "test/acc_bc", "test/worst_group_acc"}
        assert printed["test/acc"] > 0.2  # better than chance (0.1) after 500 steps
    else:
        (run,) = (tmp_path / "runs" / "mine").iterdir()
        assert (run / "DONE").is_file() and out.stdout.split()[0] == "ok"
