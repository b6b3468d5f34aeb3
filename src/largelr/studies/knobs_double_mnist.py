"""Knob comparison on Double MNIST, quick preset (paper-spec claim 3: is the LR uniquely consistent?).

Base: the quickstart config (MLP 2x256 without biases, plain SGD at LR 0.1, batch 100, Double MNIST
with rho = 0.99, 10k training samples, stop at convergence or after 4,000 steps). Each knob that
applies to an MLP on Double MNIST is moved one at a time to two values besides its base value, every
other knob staying at base: LR, batch size, momentum, weight decay, dropout, label smoothing, random
crop, colour jitter and training length (horizontal flip is refused: it swaps the digits' sides;
DropBlock and normalisation are CNN knobs), plus momentum and batch size at the base effective step
(``momentum_matched``: LR x (1 - beta); ``batch_size_matched``: LR / B fixed), so their effect is not the
LR's again. Three seed triples (data, init and order seeds move together): the fewest for an interval
(docs/statistics.md). ``largelr report`` then adds the knob x property table and heat-map.

Cost: 23 settings x 3 seeds = 69 runs (before issue 19: 19 x 2 = 38). One run of the base config with
weight decay 5e-4 (so it never stops early: all 4,000 steps, default metrics) took 33 s of one core (user +
system CPU time, /usr/bin/time, one thread), so 69 such runs need about 38 CPU-minutes, plus extra for the
runs with batch 400 (4x the work per step): an estimated 20-25 minutes on 2 idle cores with `--jobs 2`; most
runs stop earlier at convergence (the 38-run version took 5.7 min end to end). The full preset is
`knobs_double_mnist_full`.

    largelr sweep knobs_double_mnist --jobs 2 --out runs/knobs_double_mnist
    largelr report runs/knobs_double_mnist
"""

from largelr.config import RunConfig
from largelr.knobs import one_at_a_time
from largelr.studies.quickstart import BASE

NAME = "knobs_double_mnist"
GRIDS = {  # base value first; the base config is shared by every knob
    "lr": [0.1, 0.03, 0.3],
    "batch_size": [100, 25, 400],
    "momentum": [0.0, 0.5, 0.9],
    "weight_decay": [0.0, 5e-4, 5e-3],
    "dropout": [0.0, 0.1, 0.3],
    "label_smoothing": [0.0, 0.05, 0.2],
    "crop": [0, 2, 4],
    "jitter": [0.0, 0.2, 0.4],
    "train_steps": [4000, 1000, 2000],
    "momentum_matched": [0.0, 0.5, 0.9],  # at LR 0.05 and 0.01: LR / (1 - beta) stays 0.1
    "batch_size_matched": [100, 25, 400],  # at LR 0.025 and 0.4: LR / B stays 0.001
}
SEEDS = [(0, 0, 0), (1, 1, 1), (2, 2, 2)]  # (data, init, order)


def sweep() -> list[RunConfig]:
    return one_at_a_time(BASE, GRIDS, SEEDS)
