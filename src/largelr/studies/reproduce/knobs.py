"""Knobs (claim 3): the LR against the other hyperparameters and regularizers, one knob at a time.

Reuses the shipped study ``knobs_double_mnist`` (LR, batch size, momentum, weight decay, dropout, label
smoothing, random crop, colour jitter, training length, each moved to two values besides the base
config's, 2 seeds; ``--preset full`` = ``knobs_double_mnist_full``: every MLP knob over its default grid,
5 seeds) and the knob comparison of ``largelr.report.knobs``.

Claim 3 (paper-spec §1): the LR improves the headline properties consistently while each other knob
improves some and not others, or worsens some. The rule (``largelr.report.knobs.CLAIM3_RULE``): per group
of other settings, each varied knob's consistency count is how many headline properties (the metric keys
declared ``headline=True``) it improves / worsens significantly (Spearman ρ between its regularisation
strength and the property within its own sweep, p < 0.05, at least 5 runs). The LR's row holds when it
improves every headline property with none worse and does not hold when it worsens any; another knob's row
does not hold when that knob is at least as consistent as the LR (improves at least one property and at
least as many as the LR, worsens none), and holds when it worsens one or improves fewer than the LR. A
significant worsening decides a row; otherwise a row with a property untested (fewer than 5 runs, or no
variation) is inconclusive. The claim holds when every row holds, does not hold when
any row does not hold, and is inconclusive otherwise. The report adds the knob x property heat-map.

Needs: nothing beyond the package.
Cost: quick 38 runs (19 settings x 2 seeds), 5.7 min on 2 idle CPU cores with --jobs 2 (measured end to
end); full 125 runs (25 settings x 5
seeds, <= 8,000 steps), an estimated 1-1.5 h on 2 idle CPU cores, minutes on a GPU.

    largelr reproduce knobs --preset quick --jobs 2
"""

import runpy

from largelr.config import apply_overrides
from largelr.knobs import one_at_a_time
from largelr.report.knobs import claim3
from largelr.report.verdicts import Claim
from largelr.studies import study_path

NAME = "knobs"
CLAIMS = ("3",)
COST = {
    "quick": "38 runs (9 knobs x 2 values + base, 2 seeds), 5.7 min on 2 CPU cores with --jobs 2",
    "full": "125 runs (9 knobs over their default grids, 5 seeds), est. 1-1.5 h on 2 CPU cores, GPU advised",
}
TINY = [
    "data.n_train=200", "data.n_val=100", "data.n_test=100", "train.steps=20", "train.eval_every=10",
    "eval.metrics=['robustness', 'compressibility']", "eval.n_repr=50", "eval.sparsities=[0.0, 0.5, 0.9]",
]  # fmt: skip
TINY_KNOBS = ("lr", "momentum")  # 2 values + base each, 2 seeds: 6 runs per knob, enough for a p-value

EXTRA_FIGURES = {"3": ("knob_heatmap",)}


def sweep(preset: str = "quick"):
    study = runpy.run_path(str(study_path("knobs_double_mnist_full" if preset == "full" else "knobs_double_mnist")))
    if preset == "tiny":  # the quick study's LR and momentum grids and seeds on its base, at the tests' size
        base = apply_overrides(study["BASE"], TINY)
        return one_at_a_time(base, {k: study["GRIDS"][k] for k in TINY_KNOBS}, study["SEEDS"])
    return study["sweep"]()


def headline_keys() -> dict:
    """The headline properties (metric keys declared ``headline=True`` with a direction) claim 3 judges."""
    import largelr.metrics  # noqa: F401  (fills the registry)
    from largelr.metrics import key_info

    return {k: v for k, v in key_info().items() if v.headline and v.desirable}


def claims(df) -> list[Claim]:
    return [claim3(headline_keys(), "The LR improves every headline property significantly with none worse, while "
                                    "each other knob improves fewer or worsens one.")]  # fmt: skip
