"""The dry executor: print what each run would be, run nothing."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from largelr import config as config_mod
from largelr.config import RunConfig
from largelr.sweep.executors.base import EXECUTORS
from largelr.sweep.worker import OnDone


@EXECUTORS.register("dry", help="print the command each run would get; run nothing", writes=False)
def run_dry(configs: Sequence[RunConfig], study: Path, opts: argparse.Namespace, on_done: OnDone) -> None:
    for cfg in configs:
        print(f"largelr run --out {study} --config - <<< '{config_mod.to_json(cfg)}'")
