"""Regularizer knobs: every hyperparameter the knob comparison varies, declared once in ``KNOBS``.

A knob is a config path, a default grid, the value a config has when it leaves the path unset, and
the direction in which its *regularisation strength* grows (``stronger``): a larger learning rate,
momentum, weight decay, dropout, label smoothing or augmentation is more regularisation; a larger
batch or a longer training budget is less (less gradient noise, less early stopping), so their
strength axis runs the other way. Normalisation is categorical and ordered by a stated convention.
``one_at_a_time`` expands a base config into the one-knob-at-a-time sweep of the knob comparison
(paper-spec claim 3); ``largelr.report.knobs`` analyses it. No torch import: the report uses this.

Two knobs change the effective step size as well as their own noise: momentum beta gives SGD an effective LR
of LR / (1 - beta), and the gradient noise scales with LR / batch size. A knob compared at the *same* effective
step as its base is declared with ``match``: it also moves the LR so that this stays fixed (``momentum_matched``:
LR x (1 - beta); ``batch_size_matched``: LR x B / base B). ``effective_lr`` gives both quantities for a run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from largelr.config import RunConfig, check_fields, run_id, set_path
from largelr.errors import ConfigError


@dataclass(frozen=True)
class Knob:
    """One knob of the comparison.

    Attributes:
        path: the dotted config path it sets, e.g. ``"optim.lr"``.
        grid: its default grid (contains ``base``, so the base config is one point of every knob).
        base: the value when a config leaves ``path`` unset (for ``model.kwargs.*``: the factory default).
        stronger: "higher"/"lower" = the direction of the value in which regularisation grows; a
            tuple = categorical values from weakest to strongest.
        models: the model families that take it (None: every model).
        doc: one line: what it does and where its strength direction comes from.
        match: (path, f): the knob also sets ``path`` to ``f(value, knob base, the path's base value)``, to
            hold an effective quantity fixed (e.g. the LR so that LR / (1 - momentum) stays the base LR); None:
            the knob moves alone.
    """

    path: str
    grid: tuple[Any, ...]
    base: Any
    stronger: Literal["higher", "lower"] | tuple[Any, ...]
    models: tuple[str, ...] | None = None
    doc: str = ""
    match: tuple[str, Callable[[Any, Any, float], float]] | None = None

    @property
    def column(self) -> str:
        """The knob's column in a results table (``largelr.report.collect.load_results``)."""
        return f"cfg.{self.path}"

    def strength(self, value: Any) -> float:
        """The value on the strength axis (larger = more regularisation)."""
        if isinstance(self.stronger, tuple):
            return float(self.stronger.index(value))
        return float(value) if self.stronger == "higher" else -float(value)


KNOBS: dict[str, Knob] = {
    "lr": Knob("optim.lr", (0.01, 0.03, 0.1, 0.3), 0.1, "higher", doc="learning rate: the implicit regulariser"),
    "batch_size": Knob(
        "train.batch_size", (25, 50, 100, 200, 400), 100, "lower", doc="smaller batches = more gradient noise"
    ),
    "momentum": Knob("optim.momentum", (0.0, 0.5, 0.9), 0.0, "higher", doc="SGD heavy-ball momentum"),
    "weight_decay": Knob("optim.weight_decay", (0.0, 5e-4, 5e-3), 0.0, "higher", doc="L2 penalty (sgd)"),
    "dropout": Knob("model.kwargs.dropout", (0.0, 0.1, 0.3, 0.5), 0.0, "higher", models=("mlp", "cnn")),
    # DropBlock and normalisation are kwargs of the CNN (models/cnn.py, branch i8a)
    "dropblock": Knob("model.kwargs.dropblock", (0.0, 0.1, 0.2), 0.0, "higher", models=("cnn",)),
    "norm": Knob(
        "model.kwargs.norm",
        ("none", "gn", "bn"),
        "bn",
        ("none", "gn", "bn"),
        models=("cnn",),
        doc="ordered by our convention: no normalisation, then GroupNorm, then BatchNorm (batch-statistics noise)",
    ),
    "label_smoothing": Knob("train.label_smoothing", (0.0, 0.05, 0.1, 0.2), 0.0, "higher"),
    "crop": Knob("augment.crop_pad", (0, 2, 4), 0, "higher", doc="random crop after zero padding (pixels)"),
    "flip": Knob("augment.flip", (False, True), False, (False, True), doc="only where it preserves the label"),
    "jitter": Knob("augment.jitter", (0.0, 0.2, 0.4), 0.0, "higher", doc="colour jitter strength"),
    "train_steps": Knob(
        "train.steps", (1000, 2000, 5000, 10000), 5000, "lower", doc="step budget: shorter = more early stopping"
    ),
    "momentum_matched": Knob(
        "optim.momentum", (0.0, 0.5, 0.9), 0.0, "higher", doc="momentum at the base effective LR: LR x (1 - beta)",
        match=("optim.lr", lambda beta, beta0, lr: lr * (1 - beta) / (1 - beta0)),
    ),
    "batch_size_matched": Knob(
        "train.batch_size", (25, 50, 100, 200, 400), 100, "lower", doc="batch size at a fixed LR / batch size",
        match=("optim.lr", lambda b, b0, lr: lr * b / b0),
    ),
}  # fmt: skip


def effective_lr(lr: float, momentum: float, batch_size: int) -> tuple[float, float]:
    """(LR / (1 - momentum), LR / batch size): SGD's effective step size and its gradient-noise scale."""
    return lr / (1.0 - momentum), lr / batch_size


def current_value(cfg: RunConfig, knob: Knob) -> Any:
    """The knob's value in ``cfg`` (``knob.base`` when a ``kwargs`` path is unset)."""
    section, *rest = knob.path.split(".")
    obj = getattr(cfg, section)
    if rest[0] == "kwargs":
        return obj.kwargs.get(".".join(rest[1:]), knob.base)
    return getattr(obj, rest[0])


def one_at_a_time(
    base: RunConfig,
    grids: Mapping[str, Sequence[Any]],
    seeds: Iterable[tuple[int, int, int]],
) -> list[RunConfig]:
    """The knob comparison's sweep: each knob over its grid with every other knob at ``base``, x seeds.

    A grid value equal to the knob's value in ``base`` gives ``base`` itself (unchanged, so the base
    runs are shared by all knobs and run once). Seeds are (data, init, order) triples.

    Args:
        base: the base config.
        grids: knob name -> values (``KNOBS[name].grid`` for the default grid).
        seeds: (data, init, order) seed triples.

    >>> cfgs = one_at_a_time(RunConfig(), {"lr": [0.05, 0.1], "momentum": [0.0, 0.9]}, [(0, 0, 0), (1, 1, 1)])
    >>> len(cfgs)  # (base, lr=0.05, momentum=0.9) x 2 seeds
    6
    """
    seeds = list(seeds)
    points: dict[str, RunConfig] = {}
    for name, values in grids.items():
        if name not in KNOBS:
            raise ConfigError(f"unknown knob {name!r}; known: {', '.join(KNOBS)}")
        knob = KNOBS[name]
        if knob.models is not None and base.model.name not in knob.models:
            raise ConfigError(f"knob {name!r} ({knob.path}) applies to models {knob.models}, not {base.model.name!r}")
        for v in values:
            b0 = current_value(base, knob)
            cfg = base if v == b0 else set_path(base, knob.path, v)
            if knob.match is not None and v != b0:
                path, f = knob.match
                section, key = path.split(".")
                cfg = set_path(cfg, path, float(f"{f(v, b0, getattr(getattr(base, section), key)):.6g}"))
            points.setdefault(run_id(cfg), cfg)
    out = []
    for cfg in points.values():
        for d, i, o in seeds:
            for key, value in (("seeds.data", d), ("seeds.init", i), ("seeds.order", o)):
                cfg = set_path(cfg, key, value)
            out.append(check_fields(cfg))
    return out
