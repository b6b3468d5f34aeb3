"""Quickstart: the learning-rate effect on Double MNIST (paper-spec section 1, claims 1-2).

An MLP (2 hidden layers of 256 ReLU units, no biases) trained with plain SGD at a constant LR on
Double MNIST with 99% bias-aligned training samples. Five log-spaced LRs from 0.01 to 0.5 plus one
too large to train (2.0: the ReLUs die and accuracy stays at chance, so the run ends as "failed";
it shows that such runs are recorded and marked, not dropped), three seed triples each (the fewest that
give the effect sizes an interval; docs/statistics.md): a seed triple
draws a new dataset (data seed), a new initialisation and a new minibatch order. Runs stop
at convergence (train acc 100%, train loss < 5e-5) or after 4,000 steps (40 epochs).

Cost: 18 runs, about 6 minutes on 2 idle CPU cores with `--jobs 2` (12 runs took 4 min 27 s).

    largelr sweep quickstart --jobs 2 --out runs/quickstart
    largelr report runs/quickstart
"""

from largelr.config import DataConfig, RunConfig, TrainConfig
from largelr.sweep import grid, log_space

NAME = "quickstart"
BASE = RunConfig(
    data=DataConfig(name="double_mnist", rho=0.99, n_train=10000, n_val=2000, n_test=2000),
    train=TrainConfig(until="converged", steps=4000, eval_every=500, fail_after=1000),
)
LRS = [*log_space(0.01, 0.5, 5), 2.0]  # the last one fails to train
SEEDS = [(0, 0, 0), (1, 1, 1), (2, 2, 2)]  # (data, init, order): each trial draws its own dataset too


def sweep() -> list[RunConfig]:
    return grid(BASE, {"optim.lr": LRS, ("seeds.data", "seeds.init", "seeds.order"): SEEDS})
