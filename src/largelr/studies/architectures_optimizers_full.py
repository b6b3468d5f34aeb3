"""The GPU preset of ``architectures_optimizers`` (same question, paper-sized): Double MNIST with
10,000 training samples, MLP 2x256, CNN width 32, ResNet-18 width 64 (CIFAR stem), up to 10,000
steps to convergence, 5 LRs per optimizer (SGD, SGD + momentum 0.9, Adam), 3 seeds: 135 runs, meant
for a GPU (the device is not part of the run id, so it is given at launch). Not timed (no GPU used).

    largelr sweep architectures_optimizers_full --set train.device=cuda --jobs 4 --out runs/ao_full
    largelr report runs/ao_full
"""

from __future__ import annotations

from largelr.config import RunConfig
from largelr.studies.architectures_optimizers import configs

NAME = "architectures_optimizers_full"


def sweep() -> list[RunConfig]:
    return configs("full")
