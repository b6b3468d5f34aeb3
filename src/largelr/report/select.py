"""Model selection by validation performance, per LR (the convention of DomainBed and SubpopBench). Pure.

The rule (``select_runs``): within each group of runs (every setting but the LR and the seeds), and within each
trial (one seed triple data/init/order), the run whose *validation* criterion is highest is selected among the
runs that finished ok with a finite value; ties go to the smaller LR. The selected runs' *test* properties are
then averaged over trials (mean ± standard error), and the LRs chosen are counted. The same rule applied to the
test split's criterion is the oracle (DomainBed's "test-domain validation"), an upper bound shown beside it.

Which validation split: every dataset has one (``data.n_val`` samples). On the procedural datasets (Double MNIST,
the coloured MNISTs, corrupted images, parity, rare patch) it is drawn like the training split, with the same ρ,
so it is biased: at ρ = 0.99 about 1% of it is bias-conflicting and groups are tiny or empty. Waterbirds uses its
published validation split (backgrounds balanced within each class), CelebA its published one (distributed like
its training split), ImageNet-9 ``original`` images only (no background is swapped). A worst-group criterion on
a biased validation split rests on few samples: ``val/min_group_n`` in runs.csv says how few.
"""

from __future__ import annotations

import math

import pandas as pd

from largelr.report.groups import split_groups
from largelr.report.keys import LR

SEEDS = ["cfg.seeds.data", "cfg.seeds.init", "cfg.seeds.order"]
CRITERIA = {  # --select NAME -> the validation key; the oracle uses the test split's key of the same name
    "worst_group_acc": "val/worst_group_acc",
    "acc_bc": "val/acc_bc",
    "acc": "val/acc",
}


def select_runs(df: pd.DataFrame, criterion: str, oracle: bool = False) -> pd.DataFrame:
    """The selected run of each (group, trial): the rows of ``df`` with columns ``group`` and ``trial`` added.

    Args:
        df: one row per run (``load_results``), with ``status``, ``cfg.*`` and metric columns.
        criterion: a key of ``CRITERIA``.
        oracle: select by the test split's value of the criterion instead of the validation split's.
    """
    key = CRITERIA[criterion].replace("val/", "test/") if oracle else CRITERIA[criterion]
    picked = []
    for g in split_groups(df, LR):
        ok = g.df[(g.df["status"] == "ok") & g.df.get(key, pd.Series(dtype=float)).map(_finite)]
        for trial, runs in ok.groupby(SEEDS, sort=True):
            best = runs.sort_values([key, LR], ascending=[False, True]).iloc[0]
            picked.append({**best.to_dict(), "group": g.label, "trial": "/".join(str(int(t)) for t in trial)})
    return pd.DataFrame(picked)


def selection_summary(df: pd.DataFrame, criterion: str, properties: dict[str, str]) -> pd.DataFrame:
    """Per group, one row for selection by validation and one for the oracle: the LRs chosen ("0.5 ×2, 0.188
    ×1"), the number of trials, and each property's mean and standard error over the selected runs."""
    rows = []
    for oracle in (False, True):
        chosen = select_runs(df, criterion, oracle)
        if chosen.empty:
            continue
        key = CRITERIA[criterion].replace("val/", "test/") if oracle else CRITERIA[criterion]
        for label, runs in chosen.groupby("group", sort=False):
            counts = runs[LR].value_counts().sort_index()
            row: dict[str, object] = {
                "group": label,
                "selection": f"oracle ({key})" if oracle else key,
                "trials": len(runs),
                "lr chosen": ", ".join(f"{lr:g} ×{n}" for lr, n in counts.items()),
            }
            for k in properties:
                vals = runs[k].dropna() if k in runs else pd.Series(dtype=float)
                row[f"{k} mean"] = float(vals.mean()) if len(vals) else math.nan
                row[f"{k} se"] = float(vals.std(ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
