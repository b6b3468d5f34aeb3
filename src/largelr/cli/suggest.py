"""``largelr suggest-lr``: the largest LR that still trains a config, with its evidence and a figure.

``add_parser(subparsers)`` adds the command to the main parser; ``run(args)`` runs it.
The work is done by ``largelr.suggest.suggest_lr`` (callable from Python and tests).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from largelr.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``suggest-lr`` to the main CLI's subparsers."""
    p = subparsers.add_parser(
        "suggest-lr",
        help="suggest the largest LR that trains a config: sharpness at init (2/λ₀) and a short LR-ladder probe",
    )
    p.add_argument("--config", help="a config JSON file (e.g. a run's config.json), or - for stdin")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, e.g. --set data.n_train=2000 (repeatable); optim.lr is ignored",
    )  # fmt: skip
    # defaults live in largelr.suggest (not imported here: building the parser must not import torch)
    p.add_argument("--steps", type=int, help="steps per probe (default: largelr.suggest.PROBE_STEPS, 300)")
    p.add_argument(
        "--margin", type=int,
        help="safety margin in grid steps (ratio sqrt 3) below the largest LR that trained (default 1)",
    )  # fmt: skip
    p.add_argument("--out", default="runs/suggest_lr", help="where the figure and JSON go (default runs/suggest_lr)")


def run(args: argparse.Namespace) -> int:
    from largelr.cli.common import resolve_config
    from largelr.config import run_id
    from largelr.report.suggest_figure import ladder_figure, ladder_frame
    from largelr.run import setup_torch
    from largelr.suggest import suggest_lr
    from largelr.validate import check_config

    if args.steps is not None and args.steps < 10:
        raise UserError(f"--steps must be at least 10, got {args.steps}")
    if args.margin is not None and args.margin < 0:
        raise UserError(f"--margin must be >= 0 grid steps, got {args.margin}")
    cfg = check_config(resolve_config(args.config, args.overrides))
    setup_torch()
    given = {"steps": args.steps, "margin_rungs": args.margin}
    s = suggest_lr(cfg, **{k: v for k, v in given.items() if v is not None})
    out = Path(args.out) / run_id(cfg)
    out.mkdir(parents=True, exist_ok=True)
    frame = ladder_frame(s)
    frame.to_csv(out / "suggest_lr.csv", index=False)
    ladder_figure(frame, edge=s.edge, suggested=s.lr).savefig(out / "suggest_lr.png", dpi=120)
    (out / "suggest_lr.json").write_text(json.dumps(_finite(s.to_dict()), indent=1) + "\n")
    print(s.text())
    print(f"figure: {out / 'suggest_lr.png'}")
    return 0 if s.lr is not None else 1


def _finite(value: object) -> object:
    """``value`` with non-finite floats as strings ("inf", "nan"), so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
