"""``largelr run`` with the default metric set on every registered model at its declared tiny size writes DONE."""

from __future__ import annotations

import pytest

from largelr import store
from largelr.cli import main
from largelr.models import MODELS

TINY_RUN = [
    "data.n_train=100",
    "data.n_val=40",
    "data.n_test=60",
    "train.steps=4",
    "train.eval_every=2",
    "train.batch_size=20",
    "eval.n_repr=40",
    "eval.n_dynamics=20",
    "eval.sparsities=[0.0, 0.5]",
]


@pytest.mark.parametrize("name", MODELS.names())
def test_default_metric_set_runs_end_to_end(name, tmp_path, one_thread):
    tiny = [f"model.kwargs.{k}={v!r}" for k, v in MODELS.spec(name).tiny.items()]  # declared at registration
    sets = [f"model.name={name!r}", *tiny, *TINY_RUN]
    args = ["run", "--out", str(tmp_path)]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    (rd,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert store.run_state(rd) == "done"
    metrics = store.load_run(rd)["result"]["metrics"]
    for key in ("test/acc", "weights/comp", "weights/pqi", "test/prune_auc", "test/class_sep", "test/act_pqi"):
        assert key in metrics, key
    # DeepLift is exact on the CNN and ResNet (tested in tests/metrics) and refused on the ViT
    assert ("test/spurious_share" in metrics) == (name != "vit")


def test_cnn_on_vector_data_fails_before_writing(tmp_path, capsys):
    rc = main(["run", "--out", str(tmp_path), "--set", "model.name='cnn'", "--set", "data.name='parity'"])
    assert rc == 2
    assert "needs image inputs" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
