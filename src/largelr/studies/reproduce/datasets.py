"""Datasets (claim 4): the LR study on every procedural dataset, and on the real benchmarks whose files are here.

The same MLP and plain SGD at three LRs on each procedural dataset (every registered dataset without files:
Double MNIST, dominoes, coloured MNIST / frame / ring, corrupted images, Boolean parity, rare patch), and
on Waterbirds, CelebA, ImageNet-9 and Corrupted CIFAR-10 when their files are here (``largelr reproduce list``
says which are missing and how to get them). Claim 4 (with claim 1's keys): in every dataset, acc_BC,
worst-group accuracy and compressibility rise with the LR. One verdict per dataset.

Needs: Fashion-MNIST for dominoes; the benchmark folders for the real datasets (skipped otherwise).
Cost: quick 3 seeds x 4 LRs per dataset (<= 2,000 steps), 7.5 min for the 8 procedural datasets on 2 shared
CPU cores with --jobs 2 (measured, 96 runs); full 5 LRs x 3 seeds (<= 10k steps) plus the real datasets (GPU
advised).

    largelr reproduce datasets --preset quick --jobs 2
"""

from largelr.config import DataConfig, EvalConfig, RunConfig, TrainConfig
from largelr.report.keys import LR
from largelr.report.verdicts import Claim, rises_with
from largelr.reproduce import dataset_files_missing, desirable, source_missing, standard_train, tiny_base
from largelr.sweep import grid, log_space

NAME = "datasets"
CLAIMS = ("4",)
COST = {
    "quick": "12 runs per dataset (4 LRs x 3 seeds), 7.5 min for 8 datasets on 2 shared CPU cores with --jobs 2",
    "standard": "12 runs per dataset (4 LRs x 3 seeds, 2,000 training images, to train loss 1e-3), 14.5 min for 8 "
    "datasets on 2 CPU cores with --jobs 2",
    "full": "15 runs per dataset (5 LRs x 3 seeds, <= 10k steps) incl. the real benchmarks; GPU advised",
}
KEYS = ("test/acc_bc", "test/worst_group_acc", "weights/comp")
REAL = {  # dataset -> data.kwargs (small images: an MLP on CPU)
    "waterbirds": {"image_size": 32},
    "celeba": {"image_size": 32},
    "imagenet9": {"image_size": 32},
}
CIFAR = ("corrupted_cifar10", "corrupted", {"source": "cifar10"})
NEEDS = {
    "dataset:waterbirds": "waterbirds",
    "dataset:celeba": "celeba",
    "dataset:imagenet9": "imagenet9",
    "source:fashion_mnist": "dominoes",
    "source:cifar10": "Corrupted CIFAR-10",
}


def procedural() -> list[str]:
    """Every registered dataset that is built without published files (a plugin's too), in name order: a new one
    joins this target without being listed here."""
    from largelr.data import DATASETS, file_datasets

    return [n for n in DATASETS.names() if n not in file_datasets()]


def _available() -> list[tuple[str, dict]]:
    out = [(n, {}) for n in procedural() if n != "dominoes" or not source_missing("fashion_mnist")]
    if not source_missing("cifar10"):
        out.append((CIFAR[1], CIFAR[2]))
    out += [(n, kw) for n, kw in REAL.items() if not dataset_files_missing(n)]
    return out


def sweep(preset: str = "quick") -> list[RunConfig]:
    tiny, full = preset == "tiny", preset == "full"
    configs = []
    for name, kwargs in _available():
        if tiny:
            if name not in REAL and kwargs.get("source") != "cifar10":
                configs += grid(tiny_base(name=name, rho=0.99, kwargs=kwargs), {"optim.lr": [0.01, 0.2]})
            continue
        std = preset == "standard"
        base = RunConfig(
            data=DataConfig(name=name, rho=0.99, n_train=2000 if std else 5000, n_val=1000, n_test=2000, kwargs=kwargs),
            train=standard_train(15000) if std else TrainConfig(steps=10000 if full else 2000, eval_every=500,
                                                                 batch_size=100, fail_after=1000),
            eval=EvalConfig(metrics=("default",), n_repr=1000, n_dynamics=0),
        )  # fmt: skip
        lrs = log_space(0.03, 0.3, 4) if std else log_space(0.01, 0.3, 5 if full else 4)
        seeds = [(i, i, i) for i in range(3)]
        configs += grid(base, {"optim.lr": lrs, ("seeds.data", "seeds.init", "seeds.order"): seeds})
    return configs


def claims(df) -> list[Claim]:
    return [Claim("4", "The LR effect (acc_BC, worst-group accuracy, compressibility rise) holds on every dataset.",
                  rises_with(LR, KEYS, desirable()))]  # fmt: skip
