"""The properties the report plots against the learning rate, grouped as in the paper.

Each metric key maps to (label, direction): direction +1 when higher is the paper's desirable
direction (more robust, more compressible, more core-feature use, more separated, sparser),
-1 when lower is. Keys a study did not measure are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable

PROPERTIES: dict[str, tuple[str, int]] = {
    # robustness
    "test/acc": ("test accuracy (unbiased)", +1),
    "test/acc_bc": ("bias-conflicting accuracy", +1),
    "test/worst_group_acc": ("worst-group accuracy", +1),
    # compressibility
    "weights/comp": ("compressibility comp_0.1", +1),
    "weights/pqi": ("PQ-index of weights", +1),
    "test/prune_auc": ("global pruning AUC", +1),
    "test/prune_max_sparsity_99": ("max sparsity keeping 99% acc", +1),
    "test/prune_layer_auc": ("per-layer pruning AUC", +1),
    "test/prune_struct_auc": ("structured pruning AUC", +1),
    "weights/eff_rank_mean": ("effective rank (mean over layers)", -1),
    "weights/stable_rank_mean": ("stable rank (mean over layers)", -1),
    # core-feature utilization
    "test/core_util": ("core utilization (attribution)", +1),
    "test/cf_spurious_flip": ("prediction flips when the spurious part is swapped", -1),
    "test/cf_core_follow": ("prediction follows a swapped core part", +1),
    "test/probe_gap": ("probe accuracy y minus s", +1),
    "test/dfr_worst_group_acc": ("DFR worst-group accuracy", +1),
    "test/csi_gt_bsi": ("share of units more class- than bias-selective", +1),
    # class separation
    "test/class_sep": ("class separation", +1),
    "test/fisher_ratio": ("Fisher ratio (classes)", +1),
    "test/bias_sep": ("bias separation", -1),
    # activation sparsity
    "test/act_zero_frac": ("activation sparsity", +1),
    "test/act_pqi": ("PQ-index of activations", +1),
}

# The headline figure: one curve per property of the paper's claim, min-max normalised on one axis.
HEADLINE: tuple[str, ...] = (
    "test/acc",
    "test/worst_group_acc",
    "weights/comp",
    "test/core_util",
    "test/class_sep",
    "test/act_zero_frac",
)


def label(key: str) -> str:
    return PROPERTIES.get(key, (key, 1))[0]


def direction(key: str) -> int:
    return PROPERTIES.get(key, (key, 1))[1]


def present(columns: Iterable[str], keys: Iterable[str] | None = None) -> dict[str, str]:
    """key -> label for the properties (or ``keys``) that the study measured, in PROPERTIES order."""
    cols = set(columns)
    return {k: label(k) for k in (keys or PROPERTIES) if k in cols}
