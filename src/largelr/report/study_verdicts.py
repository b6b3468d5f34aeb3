"""The verdicts of claims 1-2 (larger LRs give more robustness, compressibility, core use, separation and
sparsity) for any study that varies the learning rate: one verdict per group of runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from largelr.report.keys import LR
from largelr.report.page import Section
from largelr.report.verdicts import RULE, Claim, claim_table, evaluate_claims, rises_with

CLAIM1_KEYS = ("test/acc_bc", "test/worst_group_acc", "weights/comp")
CLAIM2_KEYS = ("test/core_util", "test/class_sep", "test/act_zero_frac")


def study_claims(desirable: dict[str, str | None]) -> list[Claim]:
    """Claims 1 and 2 against the LR, for any study (one verdict per group of runs)."""
    return [
        Claim("1", "Larger LRs give more robustness and compressibility.", rises_with(LR, CLAIM1_KEYS, desirable)),
        Claim("2", "Larger LRs give more core use, class separation and activation sparsity.",
              rises_with(LR, CLAIM2_KEYS, desirable)),
    ]  # fmt: skip


def study_verdict_section(df: pd.DataFrame, out: Path | None = None) -> list[Section]:
    """The verdicts of claims 1-2 for a study that varies the LR (nothing when it does not); the rule below.
    With ``out``, the table is also written to ``out/verdicts.csv`` (``largelr report`` prints it)."""
    from largelr.report.keys import declared_directions, declared_labels

    if LR not in df or df[LR].nunique() < 2:
        return []
    table = claim_table(evaluate_claims(df, study_claims(declared_directions()), declared_labels()))
    if out is not None:
        table.to_csv(out / "verdicts.csv", index=False)
    data = " Data: verdicts.csv (one row per claim and setting), spearman.csv (every trend test)." if out else ""
    return [Section("Verdicts (claims 1-2)", table=table.drop(columns="outcome"), caption=RULE + data)]
