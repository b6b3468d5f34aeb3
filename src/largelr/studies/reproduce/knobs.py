"""Knobs (claim 3): LR against the other hyperparameters and regularizers.

Reuses the knob study (batch size, momentum, weight decay, dropout, augmentation, label smoothing, ...
on Double MNIST) and its knob x property comparison once they ship with largelr; the verdict: only the
LR improves every property significantly.

Needs: the optimizer/knob config fields and the knob study (not in this version).
Cost: quick ~30 min on 2 CPU cores once available.
"""

NAME = "knobs"
CLAIMS = ("3",)
COST = {"quick": "~30 min on 2 CPU cores once available", "full": "GPU advised"}
UNAVAILABLE = "needs the knob config fields and the knobs_double_mnist study, which this version does not ship yet"
