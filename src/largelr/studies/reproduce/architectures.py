"""Architectures and optimizers (claim 4): the LR study for each model x optimizer.

Reuses the shipped study ``architectures_optimizers`` (MLP, CNN, ResNet-18 x SGD, SGD with momentum 0.9,
Adam, each optimizer over its own LR grid on Double MNIST; ``--preset full`` = ``architectures_optimizers_full``).
Claim 4 (with claim 1's keys): within every model x optimizer group, acc_BC, worst-group accuracy and
compressibility rise with the LR. The quick preset has 3 LRs x 2 seeds = 6 runs per group, just enough for
the verdict rule (5); with 3 distinct LRs a group's ρ is significant only when the seeds agree closely.
``--preset standard`` trains every group to convergence (train loss 1e-3) with 4 LRs x 3 seeds, so each test can
reach alpha after Holm over the 18 tests; what it trades for 30 minutes on 2 CPU cores: 500 training images,
the quick preset's narrow MLP and CNN but no ResNet-18 (its 36 runs alone take about an hour here), and LR grids
shifted up (SGD 0.1-0.8, momentum 0.01-0.08, Adam 2.5e-4-2e-3) so that every run memorises its data within
3,000 steps of batch 50. ``--preset full`` (paper-sized data and
models, 5 LRs, 3 seeds) is the one to trust.

Needs: nothing beyond the package.
Cost: quick 54 runs, 6.7 min on 2 idle CPU cores with --jobs 2 (measured); standard 72 runs;
full 135 runs (paper-sized models, 3 seeds): GPU advised.

    largelr reproduce architectures --preset quick --jobs 2
"""

import runpy

from largelr.config import apply_overrides
from largelr.report.verdicts import Claim, rises_with
from largelr.reproduce import desirable
from largelr.studies import study_path

NAME = "architectures"
CLAIMS = ("4",)
COST = {
    "quick": "54 runs (3 models x 3 optimizers x 3 LRs x 2 seeds), 6.7 min on 2 CPU cores with --jobs 2",
    "standard": "72 runs (MLP, CNN x 3 optimizers x 4 LRs x 3 seeds, 500 training images, to train loss 1e-3, "
    "<= 3,000 steps of batch 50), est. 20-30 min on 2 CPU cores with --jobs 2",
    "full": "135 runs (paper-sized models, 5 LRs, 3 seeds), GPU advised",
}
LR = "cfg.optim.lr"
KEYS = ("test/acc_bc", "test/worst_group_acc", "weights/comp")
TINY = [
    "data.n_train=200", "data.n_val=100", "data.n_test=100", "train.steps=20", "train.eval_every=10",
    "eval.metrics=['robustness', 'compressibility']", "eval.n_repr=50", "eval.sparsities=[0.0, 0.5, 0.9]",
]  # fmt: skip


def sweep(preset: str = "quick"):
    study = runpy.run_path(str(study_path("architectures_optimizers")))
    if preset == "tiny":  # MLP and CNN with plain SGD, one seed, at the tests' size
        quick = study["configs"]("quick")
        keep = [
            c
            for c in quick
            if c.model.name in ("mlp", "cnn") and c.optim.name == "sgd" and c.optim.momentum == 0 and c.seeds.init == 0
        ]
        return [apply_overrides(c, TINY) for c in keep]
    return study["configs"](preset)


def claims(df) -> list[Claim]:
    return [Claim("4", "The LR effect (acc_BC, worst-group accuracy, compressibility rise) holds for every "
                       "model x optimizer.", rises_with(LR, KEYS, desirable()))]  # fmt: skip
