"""Standard classification (claim 5): a rare hidden spurious pattern, test accuracy and vulnerability vs LR.

``rare_patch``: a small checkerboard patch is stamped on 30% of one class's training images (3% of all
training images) of an otherwise standard task (MNIST-5k; Fashion-MNIST when its files are here). With 10% (1%
of the images) models barely learn the patch and a run's vulnerability moved by -2 to +7 test images out of
900: a floor, not a signal. The test split (4,000 images, half of them patched) gives each run's vulnerability
about 1,800 patched non-target images (``test/vulnerability_n``, shown in the claim). The held-out i.i.d.
accuracy (val split, same distribution as train) is the standard test accuracy; the *vulnerability* is how
much the patch misleads the model on the unbiased test split: ``test/vulnerability`` when the metric exists,
else our stand-in acc_BA - acc_BC (accuracy on images where the patch agrees or is absent minus accuracy where
it points to the wrong class). Claim 5: higher LR, higher accuracy and lower vulnerability, and the two are
associated across runs (the trend test within seed blocks), and that association is also looked for within
each LR (5b: LR as a factor, the association measured only between runs at the same LR). Claim 5 is an
association, as the paper's v2 words it ("is related to"), not a causal statement.

Needs: Fashion-MNIST IDX files for the second setting (``largelr data download fashion_mnist --dir DIR``
and ``$LARGELR_FASHION_MNIST_DIR``, or Debian's dataset-fashion-mnist); skipped with a note otherwise.
Cost: quick 15 runs per source (5 LRs x 3 seeds, <= 3,000 steps), about 2 min for both sources (MNIST-5k,
Fashion-MNIST) on 2 idle CPU cores with --jobs 2 (1.8 min measured with the smaller test split);
full 48 runs per source (8 LRs x 6 seeds, <= 10k steps).

    largelr reproduce standard --preset quick --jobs 2
"""

import pandas as pd

from largelr.config import DataConfig, EvalConfig, RunConfig, TrainConfig
from largelr.report.keys import LR
from largelr.report.verdicts import Check, Claim
from largelr.reproduce import source_missing, standard_train, tiny_base
from largelr.sweep import grid, log_space

NAME = "standard"
CLAIMS = ("5",)
COST = {
    "quick": "15 runs per available source (5 LRs x 3 seeds), 5.7 min for both sources on 2 shared CPU cores",
    "standard": "20 runs per source (5 LRs x 4 seeds, 2,000 training images, to train loss 1e-3), 8.7 min for both "
    "sources on 2 shared CPU cores",
    "full": "48 runs per source (8 LRs x 6 seeds, <= 10k steps), ~2 h per source on 2 CPU cores",
}
ACC = "val/acc"  # i.i.d. held-out accuracy
VULN = "standard/vulnerability"
SOURCES = ("mnist5k", "fashion_mnist")
NEEDS = {"source:fashion_mnist": "the Fashion-MNIST half of the study"}

LABELS = {ACC: "i.i.d. held-out accuracy", VULN: "vulnerability to the patch"}


def sweep(preset: str = "quick") -> list[RunConfig]:
    sources = [s for s in SOURCES if s == "mnist5k" or not source_missing(s)]
    if preset == "tiny":
        tiny = tiny_base(
            ("robustness", "compressibility", "vulnerability"), name="rare_patch", kwargs={"patch_frac": 0.3}
        )
        return grid(tiny, {"data.kwargs.source": sources, "optim.lr": [0.01, 0.05, 0.2]})
    full = preset == "full"
    if preset == "standard":
        std = RunConfig(
            data=DataConfig(name="rare_patch", n_train=2000, n_val=1000, n_test=4000, kwargs={"patch_frac": 0.3}),
            train=standard_train(20000),
            eval=EvalConfig(metrics=("robustness", "vulnerability", "compressibility", "prune_curve",
                                     "class_separation"), n_dynamics=0),
        )  # fmt: skip
        seeds = [(i, i, i) for i in range(4)]
        s = ("seeds.data", "seeds.init", "seeds.order")
        return grid(std, {"data.kwargs.source": sources, "optim.lr": log_space(0.03, 0.5, 5), s: seeds})
    base = RunConfig(
        data=DataConfig(name="rare_patch", n_train=5000, n_val=1000, n_test=4000, kwargs={"patch_frac": 0.3}),
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
    n = pd.to_numeric(df["test/vulnerability_n"], errors="coerce").min() if "test/vulnerability_n" in df else None
    rests = f" (each run's vulnerability on at least {n:.0f} patched non-target test images)" if n == n and n else ""
    return [
        Claim("5", "Higher LR goes with higher test accuracy and lower vulnerability to a rare spurious pattern"
                   f"{rests}, and the two are associated across runs.",
              (Check(LR, ACC, "higher"), Check(LR, VULN, "lower"), Check(ACC, VULN, "lower"))),
        Claim("5b", "The accuracy-vulnerability association remains between runs at the same LR (LR as a "
                    "factor).", (Check(ACC, VULN, "lower", control=LR),)),
    ]  # fmt: skip
