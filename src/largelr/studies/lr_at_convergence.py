"""The quickstart study, but compared at convergence, as the paper does (paper-spec section 4).

Same data and model as quickstart; runs go on until train accuracy is 100% and the
train loss is below 5e-5, or 40,000 steps (400 epochs). Small LRs may hit the cap: the report's
runs.csv says which runs converged (column ``converged``).

Cost: 8 runs, about 20 minutes on 2 CPU cores with `--jobs 2`.

    largelr sweep lr_at_convergence --jobs 2 --out runs/lr_at_convergence
    largelr report runs/lr_at_convergence
"""

from largelr.config import DataConfig, RunConfig, TrainConfig
from largelr.sweep import grid, log_space

NAME = "lr_at_convergence"
BASE = RunConfig(
    data=DataConfig(name="double_mnist", rho=0.99, n_train=10000, n_val=2000, n_test=2000),
    train=TrainConfig(until="converged", steps=40000, eval_every=1000, fail_after=1000),
)


def sweep() -> list[RunConfig]:
    # (data, init, order) seed triples: each trial draws its own dataset, initialisation and order
    seeds = [(0, 0, 0), (1, 1, 1)]
    return grid(BASE, {"optim.lr": log_space(0.02, 0.5, 4), ("seeds.data", "seeds.init", "seeds.order"): seeds})
