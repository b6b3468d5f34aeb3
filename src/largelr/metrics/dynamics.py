"""Training-dynamics measurements for the mechanism claim (paper-spec section 1, claim 6, and section 5).

Not a registered end-of-run metric: the training loop calls ``dynamics_row`` at every evaluation on
the fixed subset from ``dynamics_subset``. The subset over-represents bias-conflicting (BC) samples
so that their statistics are not based on a handful of samples; loss sums are reweighted by stratum
so that the loss-share numbers estimate the whole training split's values.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from largelr.data import Split, SpuriousDataset
from largelr.metrics.robustness import mean_or_nan
from largelr.models import batched_forward
from largelr.seeding import make_generator


def dynamics_subset(data: SpuriousDataset, n: int, seed: int) -> Tensor:
    """Fixed indices (sorted, CPU) into the training split: BC samples up to ``n // 2``, the rest BA.

    All BC samples are taken when there are at most ``n // 2`` of them (with rho = 0.99 and 10,000
    training samples: all 100), otherwise a random ``n // 2``; bias-aligned (BA) samples, drawn at
    random, fill up to ``n``. If one stratum is too small the other fills in, so the subset has
    ``min(n, len(train))`` samples.

    Args:
        data: the dataset; only its training split is read.
        n: subset size.
        seed: seeds the draw (e.g. the run's data seed), so every LR of a sweep tracks the same samples.
    """
    aligned = data.splits["train"].aligned.cpu()
    bc, ba = torch.nonzero(~aligned).flatten(), torch.nonzero(aligned).flatten()
    n = min(n, len(aligned))
    n_bc = min(len(bc), n // 2)
    n_ba = min(len(ba), n - n_bc)
    n_bc = min(len(bc), n - n_ba)
    gen = make_generator(seed, "dynamics_subset")
    pick_bc = bc[torch.randperm(len(bc), generator=gen)[:n_bc]]
    pick_ba = ba[torch.randperm(len(ba), generator=gen)[:n_ba]]
    return torch.cat([pick_bc, pick_ba]).sort().values


@torch.no_grad()
def dynamics_row(model: nn.Module, split: Split, idx: Tensor) -> dict[str, float]:
    """Mechanism statistics of ``model`` on ``split.subset(idx)`` (the training split and its fixed subset).

    Keys (NaN where a stratum is empty):
        dyn/ebcr: effective BC loss ratio, sum_BC l_i / sum_all l_i over the whole training split,
            estimated from the subset by weighting each stratum's loss sum by (stratum size in the
            split) / (stratum size in the subset), which is exact when the subset contains the whole
            stratum. 0 when the split has no BC samples.
        dyn/loss: the same weighted estimate of the split's mean cross-entropy.
        dyn/bc_ba_loss_ratio: sum_BC l_i / sum_BA l_i over the whole training split (the authors'
            convention, a ratio of sums), from the same stratum-weighted sums as ``dyn/ebcr``; it
            equals (n_BC / n_BA) times the ratio of means. inf if only the BA sum is 0.
        dyn/bc_ba_loss_ratio_means: mean BC loss / mean BA loss (ours before issue 12; free of
            the BC/BA proportion, so comparable across rho).
        dyn/bc_conf: mean max-softmax probability on BC samples.
        dyn/bc_conf_wrong: the same over misclassified BC samples only ("confidently mispredicted").
        dyn/bc_pred_spurious: fraction of BC samples predicted as their spurious class s.
        dyn/acc_bc: accuracy on the subset's BC samples.

    The model is put in eval mode for the measurement and its previous mode restored.

    Args:
        model: the model being trained (any device).
        split: the training split the subset indexes.
        idx: indices from ``dynamics_subset``.
    """
    was_training = model.training
    model.eval()
    x = split.x[idx.to(split.x.device)]
    logits = batched_forward(model, x).cpu()
    model.train(was_training)
    y, s, aligned = (t[idx.to(t.device)].cpu() for t in (split.y, split.s, split.aligned))
    # float64: at convergence float32 losses of confident samples round to exactly 0
    loss = F.cross_entropy(logits.double(), y, reduction="none")
    prob = logits.double().softmax(1)
    conf, pred = prob.max(1)
    bc = ~aligned
    n_bc_all = float((~split.aligned).sum())
    n_ba_all = float(split.aligned.sum())
    sum_bc = n_bc_all / max(int(bc.sum()), 1) * float(loss[bc].sum())
    sum_ba = n_ba_all / max(int(aligned.sum()), 1) * float(loss[aligned].sum())
    total = sum_bc + sum_ba
    wrong_bc = bc & (pred != y)
    return {
        "dyn/ebcr": sum_bc / total if total > 0 else float("nan"),
        "dyn/loss": total / (n_bc_all + n_ba_all),
        "dyn/bc_ba_loss_ratio": _ratio(sum_bc, sum_ba) if n_bc_all and n_ba_all else float("nan"),
        "dyn/bc_ba_loss_ratio_means": _ratio(mean_or_nan(loss[bc]), mean_or_nan(loss[aligned])),
        "dyn/bc_conf": mean_or_nan(conf[bc]),
        "dyn/bc_conf_wrong": mean_or_nan(conf[wrong_bc]),
        "dyn/bc_pred_spurious": mean_or_nan((pred[bc] == s[bc]).double()),
        "dyn/acc_bc": mean_or_nan((pred[bc] == y[bc]).double()),
    }


def _ratio(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return float("nan")
    if b > 0:
        return a / b
    return float("inf") if a > 0 else float("nan")
