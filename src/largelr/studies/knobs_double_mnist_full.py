"""Knob comparison on Double MNIST, full preset: every MLP knob over its default grid, five seed triples.

Same base and question as ``knobs_double_mnist`` (the quick preset); the grids are the defaults
declared in ``largelr.knobs.KNOBS`` (LR, batch size, momentum, weight decay, dropout, label smoothing,
random crop, colour jitter, training length, and momentum and batch size at the base effective step) and
the step cap is 8,000 so the training-length knob has room. 31 settings x 5 seeds = 155 runs: an estimated
1.5-2 hours on 2 idle CPU cores with `--jobs 2` (the quick preset's measured 33 CPU-seconds per 4,000-step run,
doubled for runs using the 8,000-step cap), minutes on a GPU machine with several slots.

    largelr sweep knobs_double_mnist_full --jobs 2 --out runs/knobs_double_mnist_full
    largelr report runs/knobs_double_mnist_full
"""

from largelr.config import RunConfig, set_path
from largelr.knobs import KNOBS, one_at_a_time
from largelr.studies import quickstart

NAME = "knobs_double_mnist_full"
BASE = set_path(quickstart.BASE, "train.steps", 8000)  # the quickstart config with room to train longer
MLP_KNOBS = ("lr", "batch_size", "momentum", "weight_decay", "dropout", "label_smoothing", "crop", "jitter",
             "momentum_matched", "batch_size_matched")  # fmt: skip
GRIDS = {name: KNOBS[name].grid for name in MLP_KNOBS} | {"train_steps": (1000, 2000, 4000, 8000)}
SEEDS = [(s, s, s) for s in range(5)]  # (data, init, order)


def sweep() -> list[RunConfig]:
    return one_at_a_time(BASE, GRIDS, SEEDS)
