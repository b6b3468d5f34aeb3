"""Standard classification (claim 5): a rare hidden spurious pattern, test accuracy and vulnerability vs LR.

``rare_patch``: a small checkerboard patch is stamped on 10% of one class's training images of an
otherwise standard task (MNIST-5k; Fashion-MNIST when its files are here). The held-out i.i.d. accuracy
(val split, same distribution as train) is the standard test accuracy; the *vulnerability* is how much the
patch misleads the model on the unbiased test split: ``test/vulnerability`` when the metric exists, else
our stand-in acc_BA - acc_BC (accuracy on images where the patch agrees or is absent minus accuracy where
it points to the wrong class). Claim 5: higher LR, higher accuracy and lower vulnerability, and the two are
associated across runs (Spearman), also controlling for the LR (partial Spearman on ranks).

Needs: Fashion-MNIST IDX files for the second setting (``largelr data download fashion_mnist --dir DIR``
and ``$LARGELR_FASHION_MNIST_DIR``, or Debian's dataset-fashion-mnist); skipped with a note otherwise.
Cost: quick 15 runs per source (5 LRs x 3 seeds, <= 3,000 steps), 1.8 min for both sources (MNIST-5k,
Fashion-MNIST) on 2 idle CPU cores with --jobs 2 (measured); full 48 runs per source (8 LRs x 6 seeds, <= 10k steps).

    largelr reproduce standard --preset quick --jobs 2
"""

import pandas as pd

from largelr.config import DataConfig, EvalConfig, RunConfig, TrainConfig
from largelr.report.verdicts import Check, Claim
from largelr.reproduce import source_missing, tiny_base
from largelr.sweep import grid, log_space

NAME = "standard"
CLAIMS = ("5",)
COST = {
    "quick": "15 runs per available source (5 LRs x 3 seeds), about 1 min per source on 2 CPU cores with --jobs 2",
    "full": "48 runs per source (8 LRs x 6 seeds, <= 10k steps), ~2 h per source on 2 CPU cores",
}
LR = "cfg.optim.lr"
ACC = "val/acc"  # i.i.d. held-out accuracy
VULN = "standard/vulnerability"
SOURCES = ("mnist5k", "fashion_mnist")

LABELS = {ACC: "i.i.d. held-out accuracy", VULN: "vulnerability to the patch"}


def missing() -> list[str]:
    return [m for m in (source_missing(s) for s in SOURCES[1:]) if m]


def sweep(preset: str = "quick") -> list[RunConfig]:
    sources = [s for s in SOURCES if s == "mnist5k" or not source_missing(s)]
    if preset == "tiny":
        tiny = tiny_base(
            ("robustness", "compressibility", "vulnerability"), name="rare_patch", kwargs={"patch_frac": 0.3}
        )
        return grid(tiny, {"data.kwargs.source": sources, "optim.lr": [0.01, 0.05, 0.2]})
    full = preset == "full"
    base = RunConfig(
        data=DataConfig(name="rare_patch", n_train=5000, n_val=1000, n_test=2000, kwargs={"patch_frac": 0.1}),
        train=TrainConfig(until="converged", steps=10000 if full else 3000, eval_every=500, fail_after=1000),
        eval=EvalConfig(
            metrics=("robustness", "vulnerability", "compressibility", "prune_curve", "class_separation"), n_dynamics=0
        ),
    )
    lrs = log_space(0.003, 0.5, 8) if full else log_space(0.01, 0.3, 5)
    seeds = [(i, i, i) for i in range(6 if full else 3)]
    return grid(
        base, {"data.kwargs.source": sources, "optim.lr": lrs, ("seeds.data", "seeds.init", "seeds.order"): seeds}
    )


def derive(df: pd.DataFrame, hist: pd.DataFrame) -> pd.DataFrame:
    """The vulnerability column: ``test/vulnerability`` if measured, else acc_BA - acc_BC on the test split."""
    if "test/vulnerability" in df:
        df[VULN] = df["test/vulnerability"]
        df.attrs["vulnerability"] = "test/vulnerability"
    elif {"test/acc_ba", "test/acc_bc"} <= set(df.columns):
        df[VULN] = df["test/acc_ba"] - df["test/acc_bc"]
        df.attrs["vulnerability"] = "test/acc_ba - test/acc_bc (ours)"
    return df


def claims(df: pd.DataFrame) -> list[Claim]:
    return [
        Claim("5", "Higher LR gives higher test accuracy and lower vulnerability to a rare spurious pattern, "
                   "and the two are associated across runs.",
              (Check(LR, ACC, "higher"), Check(LR, VULN, "lower"), Check(ACC, VULN, "lower"))),
        Claim("5b", "The accuracy-vulnerability association remains when the LR is controlled for "
                    "(partial Spearman).", (Check(ACC, VULN, "lower", control=LR),)),
    ]  # fmt: skip
