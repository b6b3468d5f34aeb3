"""The properties the report plots against the learning rate, in the paper's order.

Each maps a metric key to a label. All are oriented so that higher = the paper's desirable direction
(more robust, more compressible, sparser, more separated). Keys missing from a study are skipped.
"""

from __future__ import annotations

PROPERTIES: dict[str, str] = {
    "test/acc": "test accuracy (unbiased)",
    "test/acc_bc": "bias-conflicting accuracy",
    "test/worst_group_acc": "worst-group accuracy",
    "weights/comp": "compressibility comp_0.1",
    "test/prune_auc": "pruning curve AUC",
    "test/prune_max_sparsity_99": "max sparsity keeping 99% acc",
    "test/act_zero_frac": "activation sparsity",
    "test/class_sep": "class separation",
}

# The headline figure: one property per claim, min-max normalised on one axis.
HEADLINE: tuple[str, ...] = (
    "test/acc_bc",
    "test/worst_group_acc",
    "weights/comp",
    "test/act_zero_frac",
    "test/class_sep",
)


def present(columns, keys=None) -> dict[str, str]:
    """The subset of PROPERTIES (or of ``keys``) that the study measured."""
    keys = keys or PROPERTIES
    return {k: PROPERTIES.get(k, k) for k in keys if k in columns}
