"""Does the learning-rate effect hold across architectures and optimizers? (paper-spec claim 4; issue 8)

An LR sweep on Double MNIST (rho 0.99) for each of MLP, CNN and ResNet-18 (CIFAR stem) crossed with
plain SGD, SGD with momentum 0.9 and Adam, each optimizer over its own LR grid (momentum 0.9
multiplies SGD's effective step by about 10, Adam's scale is ~1e-4..3e-3). The report's Spearman
rank correlations, read per architecture x optimizer group (``largelr.report.groups.split_groups``
with axis ``cfg.optim.lr``), say whether larger LRs bring robustness, compressibility, core-feature
use, class separation and activation sparsity in every cell, or only in some.

Presets (one file each, so both load by name): this file is the ``quick`` preset, sized for a
2-core CPU: narrow models (MLP 2x128, CNN width 8, ResNet-18 width 4), 2,000 training samples,
at most 300 steps of batch 50, 3 LRs per optimizer, two seeds: 54 runs, 6 per model x optimizer group
(enough for the report's verdict rule, which needs 5). ``architectures_optimizers_full`` is the GPU
preset (paper-sized data and models, 5 LRs, 3 seeds: 135 runs). ``standard`` (the reproduce target's preset
that trains to convergence) keeps the quick MLP and CNN (not the ResNet-18) on 500 images with larger LRs, 4 LRs
x 3 seeds: 72 runs.

Cost (quick), measured on the idle 2-core machine with --jobs 2 (one torch thread per run): one seed's
27 runs took 4.5 minutes; both seeds, 54 runs, took 6.7 minutes. (Under a load average of ~20 the MLP and CNN
runs alone took 19.5 minutes.)

    largelr sweep architectures_optimizers --jobs 2 --out runs/ao
    largelr report runs/ao
"""

from __future__ import annotations

from typing import Any

from largelr.config import DataConfig, EvalConfig, RunConfig, TrainConfig
from largelr.reproduce import STANDARD_LOSS_TOL
from largelr.sweep import grid

NAME = "architectures_optimizers"

# optimizer -> (optim.name, optim.momentum, LR grid) per preset
OPTIMIZERS: dict[str, dict[str, tuple[str, float, list[float]]]] = {
    "quick": {
        "sgd": ("sgd", 0.0, [0.01, 0.1, 0.3]),
        "sgd_momentum": ("sgd", 0.9, [0.001, 0.01, 0.03]),
        "adam": ("adam", 0.0, [1e-4, 1e-3, 3e-3]),
    },
    "standard": {  # large enough that 500 images are memorised within the cap (tau = LR x steps ~ 100-300)
        "sgd": ("sgd", 0.0, [0.1, 0.2, 0.4, 0.8]),
        "sgd_momentum": ("sgd", 0.9, [0.01, 0.02, 0.04, 0.08]),
        "adam": ("adam", 0.0, [2.5e-4, 5e-4, 1e-3, 2e-3]),
    },
    "full": {
        "sgd": ("sgd", 0.0, [0.01, 0.02, 0.05, 0.1, 0.2]),
        "sgd_momentum": ("sgd", 0.9, [0.001, 0.002, 0.005, 0.01, 0.02]),
        "adam": ("adam", 0.0, [1e-4, 2e-4, 5e-4, 1e-3, 2e-3]),
    },
}
MODELS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "quick": [
        ("mlp", {"width": 128}),
        ("cnn", {"width": 8, "depth": 3}),
        ("resnet18", {"width": 4, "cifar_stem": True}),
    ],
    "standard": [  # no ResNet-18: its 36 runs alone take ~1 h on 2 CPU cores (110 s each, measured)
        ("mlp", {"width": 128}),
        ("cnn", {"width": 8, "depth": 3}),
    ],
    "full": [
        ("mlp", {"width": 256}),
        ("cnn", {"width": 32, "depth": 3}),
        ("resnet18", {"width": 64, "cifar_stem": True}),
    ],
}
BASES = {
    "quick": RunConfig(
        data=DataConfig(name="double_mnist", rho=0.99, n_train=2000, n_val=500, n_test=1000),
        train=TrainConfig(until="converged", steps=300, batch_size=50, eval_every=200, fail_after=400),
        eval=EvalConfig(n_repr=500, n_dynamics=0, sparsities=(0.0, 0.5, 0.8, 0.9, 0.95, 0.99)),
    ),
    "standard": RunConfig(  # 500 training images so that the CNN and ResNet converge within the time budget
        data=DataConfig(name="double_mnist", rho=0.99, n_train=500, n_val=500, n_test=1000),
        train=TrainConfig(until="converged", steps=3000, batch_size=50, eval_every=50, loss_tol=STANDARD_LOSS_TOL),
        eval=EvalConfig(n_repr=500, n_dynamics=0, sparsities=(0.0, 0.5, 0.8, 0.9, 0.95, 0.99)),
    ),
    "full": RunConfig(
        data=DataConfig(name="double_mnist", rho=0.99, n_train=10000, n_val=2000, n_test=2000),
        train=TrainConfig(until="converged", steps=10000, batch_size=100, eval_every=1000),
    ),
}
# (data, init, order) seed triples: the spread over seeds covers the dataset draw too (as quickstart)
SEEDS = {
    "quick": [(0, 0, 0), (1, 1, 1)],
    "standard": [(i, i, i) for i in range(3)],
    "full": [(i, i, i) for i in range(3)],
}


def configs(preset: str) -> list[RunConfig]:
    """Every run of the preset ("quick", "standard" or "full"): models x optimizers x that optimizer's LRs x
    seeds."""
    out = []
    for name, momentum, lrs in OPTIMIZERS[preset].values():
        axes = {
            ("model.name", "model.kwargs"): MODELS[preset],
            ("optim.name", "optim.momentum"): [(name, momentum)],
            "optim.lr": lrs,
            ("seeds.data", "seeds.init", "seeds.order"): SEEDS[preset],
        }
        out += grid(BASES[preset], axes)
    return out


def sweep() -> list[RunConfig]:
    return configs("quick")
