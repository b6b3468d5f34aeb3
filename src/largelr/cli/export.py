"""``largelr export tensorboard|mlflow DIR``: a results directory as tracker runs, after the fact.

``add_parser(subparsers)`` adds the command; ``run(args)`` runs it. The work is done by
``largelr.export`` (callable from Python and tests).
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export {tensorboard,mlflow} DIR [--out OUT]`` to the main CLI's subparsers."""
    from largelr.export import FORMATS

    p = subparsers.add_parser(
        "export",
        help="write a results directory's finished runs as TensorBoard or MLflow runs (nothing reruns)",
        description="Every finished run becomes one tracker run named lr=...,seed=... (plus the other settings "
        "that vary), with its config as hyperparameters, its history and its end-of-run metrics. "
        "Exporting again replaces the previous export.",
    )
    p.add_argument("format", choices=FORMATS, help="tensorboard (event files) or mlflow (a file store)")
    p.add_argument("dir", help="results directory")
    p.add_argument("--out", help="where to write (default: DIR/_tensorboard or DIR/_mlruns)")


def run(args: argparse.Namespace) -> int:
    from largelr.cli.common import out_dir
    from largelr.export import export

    out, n = export(args.dir, args.format, out_dir(args.out))
    print(f"exported {n} runs to {out}")
    if args.format == "tensorboard":
        print(f"view: tensorboard --logdir {out}  (HPARAMS tab: filter and sort by optim.lr)")
    else:
        print(
            f"view: MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {out}  "
            "(or mlflow.search_runs(); filter: params.`optim.lr` = '0.1')"
        )
    return 0
