"""Run configuration: typed frozen dataclasses, dotted ``--set`` overrides, canonical JSON, run ids.

This module must not import torch: the CLI validates configs before anything heavy is loaded.
``run_id`` reads the dataset/model factories' defaults from their source (``largelr.catalog``), without torch.
``check_fields`` checks each field alone (types, ranges); ``largelr.validate.check_config``, the entry point
that runs before anything is written, adds the checks against the components a config names (``data.kwargs``
and ``model.kwargs`` against the registered factories, metric needs, split sizes).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import hashlib
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from largelr.errors import ConfigError
from largelr.registry import type_matches, type_name


@dataclass(frozen=True)
class DataConfig:
    name: str = "double_mnist"  # key in DATASETS
    rho: float = 0.99  # fraction of bias-aligned samples in the train and val splits
    n_train: int = 10000  # samples in the biased training split
    n_val: int = 2000  # samples in the biased validation split (same rho as train)
    n_test: int = 2000  # samples in the unbiased test split (spurious attribute uniform)
    kwargs: dict[str, Any] = field(default_factory=dict)  # dataset-specific, see `largelr data list`


@dataclass(frozen=True)
class ModelConfig:
    name: str = "mlp"  # key in MODELS
    kwargs: dict[str, Any] = field(default_factory=dict)  # family-specific (mlp: width, depth, bias)


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["sgd", "adam", "adamw"] = "sgd"  # see largelr.optim.OPTIMIZERS (default LR grid each)
    lr: float = 0.1  # base (peak) learning rate; constant unless a schedule or warm-up is set (the paper)
    momentum: float = 0.0  # SGD only
    nesterov: bool = False  # SGD only; needs momentum > 0
    weight_decay: float = 0.0  # sgd/adam: L2 penalty in the gradient; adamw: decoupled decay per step
    decay_norm_and_bias: bool | None = None  # decay 1-d params (norm scales/shifts, biases) too;
    # None = the optimizer's default: yes for sgd and adam, no for adamw
    schedule: Literal["constant", "step", "cosine", "linear_warmup"] = "constant"  # after the warm-up
    warmup_steps: int = 0  # updates of linear warm-up from lr/warmup_steps to lr (0: none)
    step_every: int = 1000  # schedule=step: updates between LR drops (counted after the warm-up)
    gamma: float = 0.1  # schedule=step: factor applied to the LR at each drop


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 100
    until: Literal["converged", "budget"] = "converged"  # converged: stop early when train acc = 100%
    # and train loss < loss_tol; budget: always run the full budget
    steps: int | None = 5000  # budget in optimizer steps (the cap when until=converged); xor epochs
    epochs: float | None = None  # budget in passes over the training split; xor steps
    loss_tol: float = 5e-5  # convergence threshold on the full-train mean cross-entropy
    eval_every: int = 1000  # steps between evaluations (history rows, convergence/divergence checks)
    fail_after: int = 1000  # from this step on (and at the last step) train acc <= 1.25x chance: "failed"
    label_smoothing: float = 0.0  # eps of the training loss (1-eps)*CE + eps*mean_k(-log p_k); 0: plain CE
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", ...; not part of the run id
    # Explicit BC up-weighting (paper-spec claim 6 intervention, JTT-style): the loss of each training
    # sample in the BC set is multiplied by bc_weight. 1: plain ERM.
    bc_weight: float = 1.0  # > 1 up-weights, < 1 down-weights, 0 drops the set from the loss
    bc_weight_norm: Literal["sum", "batch"] = "sum"  # sum: batch loss sum(w l) / sum(w), the expectation of
    # up-sampling the set by w (the step size does not grow with w); batch: sum(w l) / B, whose effective LR
    # grows with the batch's mean weight (the form before issue 19). In the run id whenever bc_weight != 1
    bc_set: Literal["oracle", "jtt"] = "oracle"  # oracle: the true BC labels; jtt: training samples an
    # ERM model (same config and seeds, bc_weight 1) misclassifies after jtt_steps steps
    jtt_steps: int = 500  # budget of that ERM model (bc_set=jtt only)
    checkpoint_every: int = 0  # steps between checkpoints a restarted run resumes from (0: only on
    # SIGTERM/SIGUSR1); not part of the run id
    tensorboard: bool = False  # also write TensorBoard event files into the run directory; not part of the run id


@dataclass(frozen=True)
class EvalConfig:
    metrics: tuple[str, ...] = ("default",)  # metric names or sets ("default", "full"), see README
    n_repr: int = 1000  # test samples (fixed subset) for representation metrics
    n_dynamics: int = 1000  # fixed training subset (all BC samples up to half) tracked at every eval; 0: off
    observatory: bool = False  # add sharpness and y/s linear-probe accuracies to history rows (metrics/observatory.py)
    observatory_every: int = 1000  # steps between those measurements (also at step 0 and the last row)
    kappa: float = 0.1  # fraction of weights kept by comp_kappa
    sparsities: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99)


@dataclass(frozen=True)
class AugmentConfig:
    """On-device training-batch augmentation, independent per sample, seeded from seeds.order (augment.py)."""

    crop_pad: int = 0  # random crop after zero-padding each side by this many pixels (0: off)
    flip: bool = False  # random horizontal flip (p=0.5); refused on datasets where it changes the label
    jitter: float = 0.0  # colour jitter strength j: brightness, contrast (and saturation) factors in [1-j, 1+j]


@dataclass(frozen=True)
class SeedConfig:
    data: int = 0  # dataset construction: source-pool split, attribute assignment, pairing
    init: int = 0  # weight initialisation
    order: int = 0  # minibatch order


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seeds: SeedConfig = field(default_factory=SeedConfig)


# The one place config fields that do not change a run's numbers are declared (left out of the run
# id). A later field of that kind (thread counts, checkpoint interval, logging) is added here.
# Dataset/model kwargs declare theirs at registration: ``@DATASETS.register(name, non_semantic=(...))``.
NON_SEMANTIC = {("train", "device"), ("train", "checkpoint_every"), ("train", "tensorboard")}


# ---------------------------------------------------------------------------------------------
# (de)serialisation


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """A plain JSON-able dict (tuples become lists): ``dataclasses.asdict`` for the config's two levels (sections of
    plain values), written out because asdict's generic deep copy was most of ``status``'s time on large studies."""
    sections = {s.name: getattr(cfg, s.name) for s in dataclasses.fields(cfg)}
    return json.loads(
        json.dumps({k: {f.name: getattr(v, f.name) for f in dataclasses.fields(v)} for k, v in sections.items()})
    )


def to_json(cfg: RunConfig, indent: int | None = None) -> str:
    """Canonical JSON: sorted keys, fixed separators, so equal configs give equal strings."""
    sep = (",", ":") if indent is None else (",", ": ")
    return json.dumps(to_dict(cfg), sort_keys=True, separators=sep, indent=indent)


def from_dict(d: dict[str, Any], where: str = "config") -> RunConfig:
    """Build and validate a RunConfig from a (possibly partial) nested dict."""
    if not isinstance(d, dict):
        raise ConfigError(f"{where} must be a JSON object, got {type(d).__name__}")
    cfg = RunConfig()
    try:
        for section, values in d.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{where}: section {section!r} must be an object")
            for key, value in values.items():
                cfg = set_path(cfg, f"{section}.{key}", value)
    except RecursionError:
        raise ConfigError(f"{where}: a value is nested too deeply to be a config") from None
    return check_fields(cfg)


def load_json(path: str | Path) -> RunConfig:
    """Read a config written by ``to_json`` (e.g. a run's ``config.json``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid JSON (not UTF-8 text)") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    return _from_text(text, str(path))


@functools.lru_cache(maxsize=4096)
def _from_text(text: str, where: str) -> RunConfig:
    """The config a JSON text holds; cached, as ``status`` and ``verify`` read each run's config.json several
    times (a RunConfig is frozen and nothing mutates its kwargs, so one object can be shared)."""
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise ConfigError(f"{where}: not a config (JSON nested too deeply)") from None
    return from_dict(d, where=where)


def run_id(cfg: RunConfig) -> str:
    """Content hash of the config's semantic, non-default part: the name of its run directory.

    ``identity(cfg)`` is hashed, so a config field added later with a default keeps every old id,
    and paths, loader workers and the device never change it. The default config hashes ``{}``.
    """
    text = json.dumps(identity(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def identity(cfg: RunConfig) -> dict[str, Any]:
    """What the run id hashes: the config minus every value equal to its default (recursively; an
    all-default section disappears) and minus what its owner declares non-semantic.

    Left out: the fields in ``NON_SEMANTIC``; ``data.kwargs``/``model.kwargs`` entries equal to the
    registered factory's default or declared ``non_semantic`` at its registration; common data
    params the dataset declares it ``ignores`` (e.g. ``rho`` on ``rare_patch``). The declarations are read
    from the source (``largelr.catalog``, no torch); an unregistered name keeps its kwargs as given.
    """
    d = to_dict(cfg)
    for section, key in NON_SEMANTIC:
        d[section].pop(key, None)
    for section in ("data", "model"):
        defaults, drop = _factory_identity(section, d[section]["name"])
        d[section] = {k: v for k, v in d[section].items() if k not in drop}
        d[section]["kwargs"] = {
            k: v for k, v in d[section]["kwargs"].items() if k not in drop and not _same(v, defaults.get(k, _NONE))
        }
    out = _prune(d, to_dict(RunConfig()))
    if cfg.train.bc_weight != 1.0:  # its default changed meaning (issue 19): a weighted run always names it
        out.setdefault("train", {})["bc_weight_norm"] = cfg.train.bc_weight_norm
    elif "bc_weight_norm" in out.get("train", {}):  # without weights it changes nothing
        del out["train"]["bc_weight_norm"]
        if not out["train"]:
            del out["train"]
    return out


_NONE = object()


def _same(a: Any, b: Any) -> bool:
    """Equal as config values: ``2 == 2.0`` as in the canonical JSON, but ``True != 1`` and ``None != 0``."""
    numbers = (int, float)
    if type(a) in numbers and type(b) in numbers:
        return a == b
    return type(a) is type(b) and a == b


def _prune(d: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        dv = default.get(k, _NONE)
        if isinstance(v, dict):
            v = _prune(v, dv if isinstance(dv, dict) else {})
            if not v:
                continue
        elif _same(v, dv):
            continue
        out[k] = v
    return out


def _jsonish(value: Any) -> Any:
    """A signature default as it would look in a config (tuples as lists)."""
    try:
        return json.loads(json.dumps(value))
    except TypeError:
        return value


def _factory_identity(section: str, name: str) -> tuple[dict[str, Any], set[str]]:
    """(kwarg defaults, keys to leave out) the registered dataset or model factory ``name`` declares, read
    from its source (``largelr.catalog``: no torch)."""
    from largelr import catalog

    declared = catalog.declared("DATASETS" if section == "data" else "MODELS")
    if name not in declared:
        return {}, set()
    d = declared[name]
    defaults = {k: _jsonish(p.default) for k, p in d.params_with_defaults().items()}
    drop = set(d.field("non_semantic"))
    if section == "data":
        drop |= set(d.field("ignores"))
    return defaults, drop


def flatten(cfg: RunConfig) -> dict[str, Any]:
    """``{"data.rho": 0.99, "model.kwargs.width": 256, ...}`` for tables."""
    out: dict[str, Any] = {}

    def walk(prefix: str, obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = tuple(obj) if isinstance(obj, list) else obj

    walk("", to_dict(cfg))
    return out


# ---------------------------------------------------------------------------------------------
# overrides


def parse_value(text: str) -> Any:
    """Parse an override value: a Python literal if it is one, else the raw string.

    >>> parse_value("0.1"), parse_value("[1, 2]"), parse_value("right")
    (0.1, [1, 2], 'right')
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):  # e.g. "{[1]}", "[[[[...", "9" * 5000
        return text


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``["optim.lr=0.05", "model.kwargs.width=512", ...]`` and validate the result."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value, e.g. optim.lr=0.05")
        key, text = item.split("=", 1)
        cfg = set_path(cfg, key.strip(), parse_value(text.strip()))
    return check_fields(cfg)


def set_path(cfg: RunConfig, path: str, value: Any) -> RunConfig:
    """Return ``cfg`` with the dotted ``path`` set to ``value``, type-checked against the field."""
    parts = path.split(".")
    section_names = [f.name for f in dataclasses.fields(RunConfig)]
    if parts[0] not in section_names or len(parts) < 2:
        raise ConfigError(_unknown(path, valid_keys()))
    section = getattr(cfg, parts[0])
    hints = _hints(type(section))
    name = parts[1]
    if name not in hints:
        raise ConfigError(_unknown(path, valid_keys()))
    if name == "kwargs":
        if len(parts) == 2:
            if not isinstance(value, dict):
                raise ConfigError(f"{path} must be a dict, got {type(value).__name__}")
            for k, v in value.items():
                if not isinstance(k, str):
                    raise ConfigError(f"{path} keys must be strings, got {type(k).__name__} {_short(k)}")
                _check_plain(f"{path}.{k}", v)
            new = dict(value)
        else:
            _check_plain(path, value)
            new = {**section.kwargs, ".".join(parts[2:]): value}
        return dataclasses.replace(cfg, **{parts[0]: dataclasses.replace(section, kwargs=new)})
    if len(parts) > 2:
        raise ConfigError(_unknown(path, valid_keys()))
    tp = hints[name]
    if _admits_float(tp) and isinstance(value, str) and value.strip().lower().lstrip("+-") in NON_FINITE:
        raise ConfigError(f"{path} must be a finite number, got {value!r}")
    if not type_matches(value, tp):
        raise ConfigError(f"{path} must be {type_name(tp)}, got {type(value).__name__} {_short(value)}")
    _check_finite(path, value)
    if isinstance(value, list):
        value = tuple(value)
    if _admits_float(tp) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # 2 and 2.0 must give the same canonical JSON and run id
    return dataclasses.replace(cfg, **{parts[0]: dataclasses.replace(section, **{name: value})})


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints`` of a config section, computed once (it dominated reading 1,000 configs)."""
    return typing.get_type_hints(cls)


def _admits_float(tp: Any) -> bool:
    return tp is float or float in typing.get_args(tp)


NON_FINITE = ("nan", "inf", "infinity")  # spellings a user may type for a non-finite float


def _short(value: Any) -> str:
    """``repr(value)`` cut to 60 characters, for one-line messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_finite(path: str, value: Any) -> None:
    """Reject nan/inf floats anywhere in ``value`` (a number, or a list of numbers)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    for v in items:
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{path} must be a finite number, got {v}")


def _check_plain(path: str, value: Any) -> None:
    """A ``kwargs`` value must be plain JSON (so the run id is defined) with finite numbers."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"{path} keys must be strings, got {type(k).__name__} {_short(k)}")
            _check_plain(f"{path}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_plain(path, v)
    elif isinstance(value, float):
        _check_finite(path, value)
    elif value is not None and not isinstance(value, (bool, int, str)):
        raise ConfigError(
            f"{path} must be a JSON value (number, string, bool, None, list or dict), got {type(value).__name__}"
        )


def revalidate(cfg: Any) -> RunConfig:
    """Check a RunConfig built in Python (e.g. by an experiment file) exactly as ``--set`` values are:
    every field goes through ``set_path`` (types, finiteness, int -> float), then ``check_fields``.

    Raises:
        ConfigError: ``cfg`` is not a RunConfig, a section has the wrong type, or a value is invalid.
    """
    if not isinstance(cfg, RunConfig):
        raise ConfigError(f"expected a RunConfig, got {type(cfg).__name__}")
    out = RunConfig()
    for sec in dataclasses.fields(RunConfig):
        section, cls = getattr(cfg, sec.name), type(getattr(out, sec.name))
        if type(section) is not cls:
            raise ConfigError(f"RunConfig.{sec.name} must be a {cls.__name__}, got {type(section).__name__}")
        for f in dataclasses.fields(section):
            out = set_path(out, f"{sec.name}.{f.name}", getattr(section, f.name))
    return check_fields(out)


def valid_keys() -> list[str]:
    """Every settable dotted key (``kwargs`` keys are listed per family by ``largelr data/model list``)."""
    keys = []
    for sec in dataclasses.fields(RunConfig):
        for f in dataclasses.fields(sec.default_factory()):  # type: ignore[misc]
            keys.append(f"{sec.name}.{f.name}" + (".<name>" if f.name == "kwargs" else ""))
    return keys


def _unknown(path: str, keys: list[str]) -> str:
    close = difflib.get_close_matches(path, keys, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return f"unknown config key {path!r}; {hint}valid keys: {', '.join(keys)}"


# ---------------------------------------------------------------------------------------------
# value checks


MAX_STEPS = 10_000_000  # a budget beyond this cannot be meant: days per run on the fastest model here


def _check(ok: bool, msg: str) -> None:
    if not ok:
        raise ConfigError(msg)


def check_fields(cfg: RunConfig) -> RunConfig:
    """Per-field range checks that types alone cannot express, each field (or pair of fields) on its own,
    without the components' declarations (``largelr.validate.check_config`` adds those). Returns ``cfg``
    unchanged when valid."""
    d, t, o, e = cfg.data, cfg.train, cfg.optim, cfg.eval
    _check(0.0 <= d.rho <= 1.0, f"data.rho must be in [0, 1], got {d.rho}")
    for name in ("n_train", "n_val", "n_test"):
        _check(getattr(d, name) > 0, f"data.{name} must be a positive integer, got {getattr(d, name)}")
    _check(math.isfinite(o.lr) and o.lr > 0, f"optim.lr must be a positive number, got {o.lr}")
    _check(0.0 <= o.momentum < 1.0, f"optim.momentum must be in [0, 1), got {o.momentum}")
    _check(o.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {o.weight_decay}")
    _check(o.name == "sgd" or o.momentum == 0, f"optim.momentum is for sgd only, got {o.momentum} with {o.name}")
    _check(not o.nesterov or (o.name == "sgd" and o.momentum > 0), "optim.nesterov needs optim.name=sgd, momentum > 0")
    _check(o.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {o.warmup_steps}")
    _check(
        o.schedule != "linear_warmup" or o.warmup_steps > 0,
        "optim.schedule=linear_warmup needs optim.warmup_steps > 0 (warm-up length in updates)",
    )
    _check(o.step_every > 0, f"optim.step_every must be a positive integer, got {o.step_every}")
    _check(0.0 < o.gamma <= 1.0, f"optim.gamma must be in (0, 1], got {o.gamma}")
    _check(0.0 <= t.label_smoothing < 1.0, f"train.label_smoothing must be in [0, 1), got {t.label_smoothing}")
    a = cfg.augment
    _check(a.crop_pad >= 0, f"augment.crop_pad must be >= 0 pixels, got {a.crop_pad}")
    _check(0.0 <= a.jitter < 1.0, f"augment.jitter must be in [0, 1), got {a.jitter}")
    _check(t.batch_size > 0, f"train.batch_size must be a positive integer, got {t.batch_size}")
    _check(
        (t.steps is None) != (t.epochs is None),
        f"set exactly one of train.steps and train.epochs (got steps={t.steps}, epochs={t.epochs}); "
        "use train.steps=None to switch to epochs",
    )
    _check(t.steps is None or 0 < t.steps <= MAX_STEPS, f"train.steps must be in [1, {MAX_STEPS:,}], got {t.steps}")
    _check(t.epochs is None or t.epochs > 0, f"train.epochs must be positive, got {t.epochs}")
    _check(t.loss_tol > 0, f"train.loss_tol must be positive, got {t.loss_tol}")
    _check(t.eval_every > 0, f"train.eval_every must be a positive integer, got {t.eval_every}")
    _check(
        t.checkpoint_every >= 0, f"train.checkpoint_every must be >= 0 (0: only on a signal), got {t.checkpoint_every}"
    )
    _check(t.fail_after >= 0, f"train.fail_after must be >= 0, got {t.fail_after}")
    _check(
        t.device == "cpu" or t.device.startswith(("cuda", "mps")),
        f"train.device must be cpu, cuda, cuda:N or mps, got {t.device!r}",
    )
    _check(math.isfinite(t.bc_weight) and t.bc_weight >= 0, f"train.bc_weight must be >= 0, got {t.bc_weight}")
    _check(
        0 < t.jtt_steps <= MAX_STEPS, f"train.jtt_steps must be an integer in [1, {MAX_STEPS:,}], got {t.jtt_steps:,}"
    )
    if t.epochs is not None and t.epochs > 0:
        n = total_steps(t, d.n_train)
        _check(
            n <= MAX_STEPS,
            f"train.epochs={t.epochs:g} is {n:,} steps at batch size {t.batch_size} and n_train {d.n_train}, "
            f"more than the {MAX_STEPS:,} steps a run may take",
        )
    _check(e.n_repr > 1, f"eval.n_repr must be at least 2, got {e.n_repr}")
    _check(e.n_dynamics >= 0, f"eval.n_dynamics must be >= 0, got {e.n_dynamics}")
    _check(e.observatory_every > 0, f"eval.observatory_every must be a positive integer, got {e.observatory_every}")
    _check(
        e.observatory or e.observatory_every == EvalConfig.observatory_every,
        "eval.observatory_every needs eval.observatory=True (it would change nothing)",
    )
    _check(0.0 < e.kappa < 1.0, f"eval.kappa must be in (0, 1), got {e.kappa}")
    _check(len(e.sparsities) > 0, "eval.sparsities must not be empty")
    for s in e.sparsities:
        _check(0.0 <= s < 1.0, f"eval.sparsities values must be in [0, 1), got {s}")
    _check(len(e.metrics) > 0, "eval.metrics must name at least one metric or metric set")
    return cfg


def total_steps(train: TrainConfig, n_train: int) -> int:
    """The step budget, from ``train.steps`` or ``train.epochs`` (the one place epochs become steps)."""
    if train.steps is not None:
        return train.steps
    assert train.epochs is not None
    return max(1, math.ceil(train.epochs * n_train / train.batch_size))
