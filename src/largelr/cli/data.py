"""``largelr data``: list, show, preview and download datasets.

``add_parser(subparsers)`` adds the ``data`` command to the main parser and
``run(args)`` runs it. Every subcommand is a plain function that tests and notebooks
can call (``list_datasets``, ``build_from_overrides``, ``describe``, ``preview``). Errors are raised
as ``UserError``; the main CLI prints them as one line and exits with 2.
"""

from __future__ import annotations

import argparse
import inspect
import typing
from pathlib import Path
from typing import Any

from largelr.errors import ConfigError
from largelr.specs import DATASET_COMMON_PARAMS as COMMON_KEYS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data {list,show,preview,download}`` to the main CLI's subparsers."""
    p = subparsers.add_parser("data", help="list, inspect, preview and download datasets")
    sub = p.add_subparsers(dest="data_command", required=True)
    sub.add_parser("list", help="every dataset with its parameters, and the image sources")
    for cmd, text in (("show", "sizes, group counts and realised rho per split"), ("preview", "grid image of samples")):
        q = sub.add_parser(cmd, help=text)
        q.add_argument("name", help="dataset name (see `largelr data list`)")
        q.add_argument(
            "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
            help="rho=0.95, n_train=500, seed=1, or a dataset parameter: core_side=right "
            "(a data. / data.kwargs. / kwargs. prefix is accepted); repeatable",
        )  # fmt: skip
        if cmd == "preview":
            q.add_argument("--out", required=True, help="output image, e.g. grid.png")
            q.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to sample")
            q.add_argument("--per-group", type=int, default=2, help="samples per (y, s) cell (default 2)")
    q = sub.add_parser("download", help="fetch a dataset's files from its published mirror into a directory")
    q.add_argument("name", help="mnist, fashion_mnist or cifar10 (others print instructions)")
    q.add_argument("--dir", required=True, help="target directory")


def run(args: argparse.Namespace) -> int:
    """Run the ``data`` subcommand parsed by ``add_parser``; return the exit code."""
    if args.data_command == "list":
        print(list_datasets())
    elif args.data_command == "show":
        print(describe(build_from_overrides(args.name, args.overrides)))
    elif args.data_command == "preview":
        check_preview_args(args.out, args.per_group)
        out = preview(
            build_from_overrides(args.name, args.overrides), args.out, split=args.split, per_group=args.per_group
        )
        print(out)
    elif args.data_command == "download":
        from largelr.data.download import download
        from largelr.store import check_writable

        if not args.dir.strip():
            raise ConfigError("--dir must name a directory, got ''")
        check_writable(args.dir, "--dir")
        for path in download(args.name, args.dir):
            print(path)
    return 0


MAX_PER_GROUP = 64  # samples per (y, s) cell a preview grid shows at most


def check_preview_args(out: str, per_group: int) -> None:
    """Before any dataset is built: ``--per-group`` in [1, MAX_PER_GROUP], ``--out`` an image file name
    with a format matplotlib writes (not a directory, not a name without an extension, which matplotlib
    would silently turn into ``OUT.png``), in a directory that can be written."""
    from matplotlib.backend_bases import FigureCanvasBase

    from largelr.store import check_writable

    if not 1 <= per_group <= MAX_PER_GROUP:
        raise ConfigError(f"--per-group must be between 1 and {MAX_PER_GROUP} samples per (y, s) cell, got {per_group}")
    path = Path(out)
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if not out.strip() or path.is_dir():
        raise ConfigError(f"--out must be an image file such as grid.png, got {out!r}, a directory")
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in formats:
        raise ConfigError(
            f"--out {out!r}: {'no' if not fmt else 'unknown'} image format{f' {fmt!r}' if fmt else ''}; "
            f"end the name with one of {', '.join('.' + f for f in formats)}"
        )
    check_writable(path.parent, "--out's directory")


def list_datasets() -> str:
    """One block per dataset: name, first docstring line, parameters with types and defaults."""
    from largelr.data import DATASETS, SOURCES, file_datasets
    from largelr.registry import keyword_params, type_name

    lines = []
    for name in DATASETS.names():
        fn = DATASETS.get(name)
        where = "needs local files" if name in file_datasets() else "procedural"
        lines.append(f"{name}  [{where}]  {_first_line(fn)}")
        hints = typing.get_type_hints(fn)
        for key, p in keyword_params(fn, skip=COMMON_KEYS).items():
            lines.append(f"    {key}: {type_name(hints.get(key, Any))} = {p.default!r}")
    lines.append("")
    lines.append("image sources (data.kwargs.source / core_source / spurious_source):")
    for name in SOURCES.names():
        lines.append(f"    {name}: {_first_line(SOURCES.get(name))}")
    return "\n".join(lines)


def parse_overrides(name: str, overrides: list[str]) -> dict[str, Any]:
    """Builder keyword arguments from ``key=value`` strings, with DataConfig defaults and seed 0.

    Keys: ``rho``, ``n_train``, ``n_val``, ``n_test``, ``seed``, or a dataset parameter, each
    optionally prefixed by ``data.``; parameters may also be written ``kwargs.<p>``. Values are
    parsed and checked exactly as ``largelr run --set`` does (``largelr.config``).
    """
    import dataclasses

    from largelr.config import DataConfig, RunConfig, check_fields, parse_value, set_path
    from largelr.data import DATASETS
    from largelr.registry import check_kwargs

    fields = {f.name for f in dataclasses.fields(DataConfig)}
    cfg = set_path(RunConfig(), "data.name", name)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like key=value, e.g. rho=0.95 or core_side=right")
        key = key.strip().removeprefix("data.")
        if key == "seed":
            path = "seeds.data"
        elif key in fields and key != "kwargs":
            path = f"data.{key}"
        else:
            path = f"data.kwargs.{key.removeprefix('kwargs.')}"
        cfg = set_path(cfg, path, parse_value(text.strip()))
    d = check_fields(cfg).data
    check_kwargs(DATASETS.get(name), d.kwargs, "data.kwargs", skip=COMMON_KEYS)
    return {
        "rho": d.rho,
        "n_train": d.n_train,
        "n_val": d.n_val,
        "n_test": d.n_test,
        "seed": cfg.seeds.data,
        **d.kwargs,
    }


def build_from_overrides(name: str, overrides: list[str]):  # -> SpuriousDataset
    """Build dataset ``name`` with ``parse_overrides`` applied."""
    from largelr.data import DATASETS

    return DATASETS.get(name)(**parse_overrides(name, overrides))


def describe(ds) -> str:  # ds: SpuriousDataset
    """Sizes, realised bias-aligned fraction and (y, s) group counts per split, plus ``info``."""
    from largelr.data.benchmark_io import group_counts

    lines = [
        f"{ds.name}: {ds.num_classes} classes, {ds.num_attrs} attribute values, input shape {ds.input_shape}",
        *(f"  {k}: {v}" for k, v in ds.info.items()),
    ]
    for name, sp in ds.splits.items():
        frac = float(sp.aligned.float().mean()) if len(sp) else float("nan")
        masks = ", ".join(sp.masks) or "none"
        lines.append(f"{name}: {len(sp)} samples, bias-aligned fraction {frac:.4f}, masks: {masks}")
        counts = group_counts(sp, ds.num_attrs, ds.num_classes)
        width = max(5, *(len(str(c)) + 1 for row in counts for c in row))
        lines.append("  y\\s " + "".join(f"{s:>{width}}" for s in range(ds.num_attrs)))
        lines.extend(f"  {y:>3} " + "".join(f"{c:>{width}}" for c in row) for y, row in enumerate(counts))
    return "\n".join(lines)


def preview(ds, out: str | Path, *, split: str = "test", per_group: int = 2) -> Path:  # ds: SpuriousDataset
    """Save a grid (rows y, columns s) of ``per_group`` samples per group of ``split`` to ``out``.

    Cells where the sample is bias-aligned get a green border, so the correlation is visible.
    """
    import numpy as np
    import torch
    from matplotlib.figure import Figure

    sp = ds.splits[split]
    C, A = ds.num_classes, ds.num_attrs
    vector = sp.x.ndim == 2
    lo, hi = float(sp.x.min()), float(sp.x.max())
    h, w = (per_group, sp.x.shape[1]) if vector else sp.x.shape[-2:]
    aspect = (w / h) * (1 if vector else per_group)
    cell = 1.0 if vector else 1.1
    width, height = A * cell * min(aspect, 4), C * cell
    scale = min(1.0, 16 / width, 12 / height)  # keep big grids (10 x 10 of wide images) readable in docs
    fig = Figure(figsize=(0.6 + width * scale, 0.8 + height * scale), dpi=110)
    axes = fig.subplots(C, A, squeeze=False)
    for y in range(C):
        for s in range(A):
            ax = axes[y][s]
            ax.set_xticks([])
            ax.set_yticks([])
            idx = torch.nonzero((sp.y == y) & (sp.s == s)).flatten()[:per_group]
            if y == 0:
                ax.set_title(f"s={s}", fontsize=8)
            if s == 0:
                ax.set_ylabel(f"y={y}", fontsize=8)
            if len(idx) == 0:
                ax.text(0.5, 0.5, "empty", ha="center", va="center", fontsize=6, transform=ax.transAxes)
                continue
            x = (sp.x[idx].float() - lo) / max(hi - lo, 1e-8)
            if vector:
                img, cmap = x.numpy(), "gray"
            else:
                img = torch.cat(list(x), dim=-1).permute(1, 2, 0).numpy()  # (H, k*W, C)
                img, cmap = (img[..., 0], "gray") if img.shape[-1] == 1 else (img, None)
            ax.imshow(np.clip(img, 0, 1), cmap=cmap, vmin=0, vmax=1, interpolation="nearest", aspect="auto")
            if bool(sp.aligned[idx[0]]):
                for side in ax.spines.values():
                    side.set_edgecolor("tab:green")
                    side.set_linewidth(2)
    rho = float(ds.splits["train"].aligned.float().mean())
    what = ds.info.get("spurious_attribute", "spurious attribute")
    fig.suptitle(
        f"{ds.name} ({split}): rows y, columns s = {what}\ngreen = bias-aligned; train bias-aligned fraction {rho:.3f}",
        fontsize=8,
    )
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


def _first_line(fn: Any) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.splitlines()[0] if doc else ""
