"""The architectures x optimizers study: both presets load by name and hold the designed grid."""

from __future__ import annotations

from collections import defaultdict

import pytest

from largelr.sweep.spec import load_experiment


@pytest.mark.parametrize(
    ("name", "n_lrs", "n_seeds"), [("architectures_optimizers", 3, 2), ("architectures_optimizers_full", 5, 3)]
)
def test_presets_cross_three_models_with_three_optimizers(name, n_lrs, n_seeds):
    exp = load_experiment(name)
    assert exp.name == name and len(exp.configs) == 3 * 3 * n_lrs * n_seeds
    cells: dict[tuple, set] = defaultdict(set)
    for c in exp.configs:
        assert c.data.name == "double_mnist" and c.train.device == "cpu"
        cells[(c.model.name, c.optim.name, c.optim.momentum)].add((c.optim.lr, c.seeds.init))
    assert sorted(cells) == sorted(
        (m, o, mom) for m in ("cnn", "mlp", "resnet18") for o, mom in (("adam", 0.0), ("sgd", 0.0), ("sgd", 0.9))
    )
    assert all(len(v) == n_lrs * n_seeds for v in cells.values())
    adam = {lr for lr, _ in cells[("mlp", "adam", 0.0)]}
    sgd = {lr for lr, _ in cells[("mlp", "sgd", 0.0)]}
    assert min(adam) >= 1e-4 and max(adam) <= 3e-3 and max(adam) < max(sgd) / 10  # each optimizer its own grid
