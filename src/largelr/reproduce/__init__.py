"""Reproduce the paper: targets (one per claim or group of claims), their presets, and one run of a target.

A target is a study file in ``largelr/studies/reproduce/`` (package data) that defines, besides the usual
``NAME`` and docstring (claims, cost, what it needs):

- ``CLAIMS``: the paper-spec claim numbers it tests, e.g. ``("1", "2")``;
- ``COST``: preset -> expected cost in words, e.g. ``{"quick": "15 runs, ~6 min on 2 CPU cores", ...}``;
- ``sweep(preset="quick") -> list[RunConfig]`` for the presets ``quick`` (a smoke test, minutes),
  ``standard`` (trained to convergence, a design that can reach significance, <= 30 min on 2 CPU cores; a target
  offers it when its ``COST`` names it), ``full`` (GPU or cluster) and ``tiny`` (tests only);
- ``claims(df) -> list[Claim]``: the claims and their tests (``largelr.report.verdicts``);
- optionally ``NEEDS``: image source or file-backed dataset -> what is skipped without it, e.g.
  ``{"source:fashion_mnist": "dominoes", "dataset:waterbirds": "waterbirds"}`` (``largelr reproduce list`` and the
  report say what is missing and how to get it), or ``missing() -> list[str]`` for anything else,
  ``derive(df, histories) -> df`` (per-run columns computed from the histories), ``figures`` hints, and
  ``UNAVAILABLE`` (a reason the target cannot run with this version).

``run_target`` runs the missing runs through the ordinary sweep machinery (so an interrupted reproduce
resumes), then writes the target's report (``largelr.reproduce.page``).
"""

from __future__ import annotations

import difflib
import logging
import runpy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from largelr.config import RunConfig
from largelr.errors import UserError

log = logging.getLogger(__name__)
PRESETS = ("quick", "standard", "full", "tiny")  # tiny: the tests' size; not offered on the command line
# The standard presets' convergence criterion: train accuracy 100% and mean train loss below 1e-3 instead of the
# authors' 5e-5. Cross-entropy decays like 1/t late in training: on 2,000 Double MNIST images an MLP at LR 0.1
# reaches 1e-3 after 3,000 steps and is still above 5e-5 after 30,000 (measured), so 5e-5 does not fit in 30
# minutes on 2 CPU cores. What is traded: "converged" means memorised to a loss of 1e-3, not 5e-5.
STANDARD_LOSS_TOL = 1e-3


# what a target file may define: its name in the file -> the ReproduceTarget field
TARGET_NAMES = {
    "NAME": "name", "CLAIMS": "claims_covered", "COST": "cost", "UNAVAILABLE": "unavailable", "sweep": "sweep",
    "claims": "claim_fn", "NEEDS": "needs", "missing": "missing_fn", "derive": "derive_fn",
    "EXTRA_FIGURES": "extra_figures", "LABELS": "labels", "SESOI": "sesoi",
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ReproduceTarget:
    """A reproduce target, as its file (``studies/reproduce/<name>.py``) declares it.

    Attributes:
        name, path, doc: its name, file and docstring (claims, cost, what it needs, the command).
        claims_covered: the paper-spec claim numbers it tests (``CLAIMS``).
        cost: preset -> expected cost in words (``COST``); a preset it offers is named here.
        unavailable: why it cannot run with this version, or None (``UNAVAILABLE``).
        sweep: ``sweep(preset) -> list[RunConfig]``.
        claim_fn: ``claims(df) -> list[Claim]``.
        needs: ``"source:NAME"`` or ``"dataset:NAME"`` -> what is skipped without it (``NEEDS``).
        missing_fn: ``missing() -> list[str]``, anything else the user lacks, each with how to get it (optional).
        derive_fn: ``derive(df, histories) -> df``, per-run columns computed from the histories (optional).
        extra_figures: claim id -> names of ``reproduce.page.EXTRA_FIGURES`` shown with it.
        labels: column -> label for the columns ``derive`` adds; sesoi: their smallest effects of interest.
    """

    name: str
    path: Path
    doc: str
    sweep: Callable[[str], list[RunConfig]] | None = None
    claim_fn: Callable[[Any], list] | None = None
    claims_covered: tuple[str, ...] = ()
    cost: dict[str, str] = field(default_factory=dict)
    unavailable: str | None = None
    needs: dict[str, str] = field(default_factory=dict)
    missing_fn: Callable[[], list[str]] | None = None
    derive_fn: Callable[[Any, Any], Any] | None = None
    extra_figures: dict[str, tuple[str, ...]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    sesoi: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.unavailable is None and (self.sweep is None or self.claim_fn is None):
            raise TypeError(f"reproduce target {self.path.name}: an available target defines sweep() and claims()")

    @classmethod
    def from_namespace(cls, ns: dict[str, Any], path: Path) -> ReproduceTarget:
        """The target a file's namespace defines; a TypeError for a name that looks like a misspelled one of
        ``TARGET_NAMES`` (``EXTRA_FIGURE``), which would otherwise be ignored."""
        for key in ns:
            close = difflib.get_close_matches(key, TARGET_NAMES, n=1, cutoff=0.85)
            if close and close[0] != key and key not in TARGET_NAMES:
                raise TypeError(
                    f"reproduce target {path.name}: {key!r} is not a target field; did you mean {close[0]}?"
                )
        fields = {f: ns[k] for k, f in TARGET_NAMES.items() if k in ns}
        fields["name"] = str(fields.get("name", path.stem))
        fields["claims_covered"] = tuple(fields.get("claims_covered", ()))
        fields["cost"] = dict(fields.get("cost", {}))
        return cls(path=path, doc=(ns.get("__doc__") or "").strip(), **fields)

    @property
    def summary(self) -> str:
        return self.doc.splitlines()[0] if self.doc else self.name

    def missing(self) -> list[str]:
        """Files this target would use that are not here, each with how to get them."""
        return needs_missing(self.needs) + (list(self.missing_fn()) if self.missing_fn is not None else [])

    def configs(self, preset: str) -> list[RunConfig]:
        """The run configs of ``preset``, checked; duplicates (same run id) removed."""
        from largelr.config import run_id
        from largelr.validate import check_config

        if preset not in PRESETS:
            raise UserError(f"unknown preset {preset!r}; choose one of: quick, standard, full")
        if self.unavailable:
            raise UserError(f"reproduce target {self.name!r} is not available: {self.unavailable}")
        if preset != "tiny" and preset not in self.cost:
            raise UserError(
                f"reproduce target {self.name!r} has no {preset!r} preset yet; it has: {', '.join(self.cost)}"
            )
        configs = [check_config(c) for c in self.sweep(preset)]  # type: ignore[misc]  (available: has a sweep)
        return list({run_id(c): c for c in configs}.values())

    def claim_specs(self, df) -> list:
        return list(self.claim_fn(df))  # type: ignore[misc]

    def derive(self, df, histories) -> Any:
        return self.derive_fn(df, histories) if self.derive_fn is not None else df


def targets_dir() -> Path:
    from largelr.studies import STUDIES_DIR

    return STUDIES_DIR / "reproduce"


def target_names() -> list[str]:
    """The shipped targets, in the order of the paper's claims (as listed in ``ORDER``)."""
    names = sorted(p.stem for p in targets_dir().glob("*.py") if p.name != "__init__.py")
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


ORDER = ["headline", "datasets", "architectures", "knobs", "standard", "mechanism", "regimes"]


def target_path(name: str) -> Path:
    """The file of target ``name``; a UserError lists the known targets when there is none."""
    path = targets_dir() / f"{name}.py"
    if "/" in name or name.startswith(".") or not path.is_file():
        raise UserError(f"unknown reproduce target {name!r}; known: {', '.join(target_names())}, all")
    return path


def load_target(name: str) -> ReproduceTarget:
    """Load the target file ``name``; a UserError lists the known targets when there is none."""
    path = target_path(name)
    ns = runpy.run_path(str(path), run_name="largelr_reproduce_target")
    return ReproduceTarget.from_namespace(ns, path)


# what ``reproduce list`` reads from a target file's source, without running it (which imports pandas and more)
LISTED = ("NAME", "CLAIMS", "COST", "UNAVAILABLE", "NEEDS")


def listed_target(name: str) -> ReproduceTarget:
    """The target as ``reproduce list`` shows it: its literal declarations read from the file's source (no imports
    run: fast, torch-free). A target whose listed names are not literals, or that defines ``missing()``, is loaded."""
    import ast

    path = target_path(name)
    tree = ast.parse(path.read_text())
    ns: dict[str, Any] = {"__doc__": ast.get_docstring(tree)}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "missing":
            return load_target(name)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            key = node.targets[0].id
            if key in LISTED:
                try:
                    ns[key] = ast.literal_eval(node.value)
                except ValueError:
                    return load_target(name)

    def listed_only(*_: Any) -> Any:
        raise RuntimeError(f"reproduce target {name!r} was read for listing only; load_target({name!r}) runs it")

    return ReproduceTarget.from_namespace({**ns, "sweep": listed_only, "claims": listed_only}, path)


def absent_needs(needs: dict[str, str]) -> dict[str, str]:
    """The needs of ``needs`` (``NEEDS`` keys) that are not here -> what is missing and how to get it."""
    out = {}
    for need in needs:
        kind, _, name = need.partition(":")
        if kind not in ("source", "dataset") or not name:
            raise TypeError(f"NEEDS key {need!r}: expected 'source:NAME' or 'dataset:NAME'")
        m = source_missing(name) if kind == "source" else dataset_files_missing(name)
        if m:
            out[need] = m
    return out


def needs_missing(needs: dict[str, str]) -> list[str]:
    """One line per need of ``needs`` (``NEEDS``) that is not here: what is missing, how to get it, what is skipped."""
    return [f"{m} ({needs[need]} skipped)" for need, m in absent_needs(needs).items()]


def desirable() -> dict[str, str | None]:
    """Metric key -> desirable direction: "higher", "lower", or None (no verdict is given for such a key)."""
    from largelr.report.keys import declared_directions

    return declared_directions()


def labels() -> dict[str, str]:
    """Metric key -> human label."""
    from largelr.report.keys import declared_labels

    return declared_labels()


def design_power(target: ReproduceTarget, preset: str) -> tuple[float, int]:
    """The smallest adjusted p the design of ``target`` at ``preset`` can attain in its weakest test, and the
    family size.

    The claims are evaluated on a table of the preset's configs (every run ok and converged) whose tested
    columns hold distinct random values, so each test's smallest attainable p is that of the design itself;
    Holm's first step multiplies it by the family size.
    """
    import numpy as np
    import pandas as pd

    from largelr.config import flatten
    from largelr.metrics import key_info
    from largelr.report.verdicts import evaluate_claims

    base = {"status": "ok", "converged": True, "steps": 1}
    rows = [{"run_id": str(i), **base, **{f"cfg.{k}": v for k, v in flatten(c).items()}}
            for i, c in enumerate(target.configs(preset))]  # fmt: skip
    df = pd.DataFrame(rows)
    rng = np.random.default_rng(0)
    keys = [k for k, v in key_info().items() if v.desirable and "{i}" not in k and not v.small_groups]
    claims = target.claim_specs(df)
    tested = {c for cl in claims for t in cl.tests for c in (t.x, t.y, t.control) if c}
    for col in sorted({*keys, *tested} - set(df.columns)):
        df[col] = rng.normal(size=len(df))
    tests = evaluate_claims(df, target.claim_specs(df), power=False)
    finite = tests["p_min_adj"].dropna()
    return (float(finite.max()) if len(finite) else float("nan")), int(tests["p"].notna().sum())


def target_fingerprint(target: ReproduceTarget) -> str:
    """A hash of what a target's design depends on, read without torch: the file's text, the registered dataset,
    model and metric names (a target may sweep every dataset of the registry) and which of its ``NEEDS`` are
    absent here (a missing source drops runs). A recorded design power holds only for the same hash, so adding a
    component or lacking a file shows "not recorded" instead of another design's number."""
    import hashlib

    from largelr import catalog

    h = hashlib.sha256(target.path.read_bytes())
    for var in ("DATASETS", "MODELS", "METRICS"):
        h.update(f"\n{var}:{','.join(catalog.names(var))}".encode())
    h.update(f"\nabsent:{','.join(absent_needs(target.needs))}".encode())
    return h.hexdigest()[:16]


def cached_design_power(target: ReproduceTarget, preset: str, fingerprint: str = "") -> tuple[float, int] | None:
    """``design_power(target, preset)`` as ``largelr.reproduce.design_table`` recorded it for the same
    ``target_fingerprint`` (given, or computed), or None (a changed target or registry, an absent need, an unknown
    target). The table keeps ``reproduce list`` free of torch and pandas; ``tools/design_table.py`` rewrites it
    and a test recomputes every entry."""
    from largelr.reproduce.design_table import TABLE

    entry = TABLE.get(f"{target.name}/{preset}")
    if entry is None or entry["fingerprint"] != (fingerprint or target_fingerprint(target)):
        return None
    return float(entry["p_min_adj"]), int(entry["tests"])


def list_text(*, compute: bool = False) -> str:
    """The ``largelr reproduce list`` table: target, claims, each preset's cost and the smallest adjusted p its
    design can attain, and what is missing or unavailable.

    The attainable p comes from the recorded table (``cached_design_power``); a target whose design changed since
    gets it computed only with ``compute=True`` (``reproduce list --power``: imports torch, seconds per target).
    """
    from largelr.report.stats import ALPHA, fmt_p

    lines = []
    for name in target_names():
        t = load_target(name) if compute else listed_target(name)
        fingerprint = "" if compute or t.unavailable else target_fingerprint(t)
        lines.append(f"{name:<14} claims {', '.join(t.claims_covered):<6} {t.summary}")
        for preset in ("quick", "standard", "full"):
            if preset in t.cost:
                lines.append(f"{'':<14} {preset}: {t.cost[preset]}")
                if t.unavailable:
                    continue
                power = design_power(t, preset) if compute else cached_design_power(t, preset, fingerprint)
                if power is None:
                    lines.append(f"{'':<16} design: not recorded for this design (its file, the registered "
                                 "components or the files it needs changed); `largelr reproduce list --power` "
                                 "computes it")  # fmt: skip
                    continue
                p, m = power
                verdict = "every test can reach" if p < ALPHA else "UNDERPOWERED: not every test can reach"
                lines.append(f"{'':<16} design: {m} tests (one Holm family), smallest attainable adjusted p of "
                             f"the weakest test {fmt_p(p)}: {verdict} alpha = {ALPHA}")  # fmt: skip
        if t.unavailable:
            lines.append(f"{'':<14} NOT AVAILABLE: {t.unavailable}")
        for m in t.missing():
            lines.append(f"{'':<14} missing (skipped): {m}")
    lines.append("")
    lines.append("run one: largelr reproduce NAME --preset quick --jobs 2 [--out DIR]; all: largelr reproduce all")
    return "\n".join(lines)


def run_target(
    name: str,
    preset: str = "quick",
    out: str | Path | None = None,
    *,
    jobs: int = 1,
    executor: str | None = None,
    progress: bool = True,
    report_only: bool = False,
    converged_only: bool = False,
) -> Path:
    """Run every missing run of target ``name`` at ``preset`` into ``out`` and write its report.

    With ``report_only`` nothing runs: the report is written from the runs already finished (e.g. while a
    long reproduce is still going, or after it was interrupted). ``converged_only`` bases the verdicts on the
    runs that converged; the ``standard`` preset always does (its point is the comparison at convergence), and
    its verdict cells count the runs left out.

    Returns the report directory (``out/report``). Wall time, preset and target are recorded in the
    study's reproduce note (``store.write_note``), which the report's provenance shows.
    """
    target = load_target(name)  # an unknown name or preset is refused before the heavy imports below
    configs = target.configs(preset)

    from largelr import store
    from largelr.reproduce.page import write_target_report
    from largelr.sweep import run_sweep

    out = Path(out or Path("runs") / "reproduce" / target.name)
    converged_only = converged_only or preset == "standard"
    if report_only:
        return write_target_report(out, target, converged_only=converged_only)
    for m in target.missing():
        log.warning("%s: skipped, %s", target.name, m)
    t0 = time.time()
    summary = run_sweep(configs, out, executor=executor or "local", progress=progress, jobs=jobs)
    if executor == "dry":
        return out
    note = store.read_note(out) if store.read_note(out) else {}
    wall = note.get("wall_seconds", 0.0) + (time.time() - t0 if summary.total > summary.skipped else 0.0)
    store.write_note(
        out, {"target": target.name, "preset": preset, "wall_seconds": wall, "runs": len(configs), "jobs": jobs}
    )
    if summary.errors:
        raise UserError(
            f"{len(summary.errors)} of {summary.total} runs crashed (first: {summary.errors[0]}); "
            "rerun the same command to retry them"
        )
    return write_target_report(out, target, converged_only=converged_only)


# ---------------------------------------------------------------------------------------------
# what a target needs: image sources and dataset files the user may not have


def source_missing(name: str) -> str | None:
    """None when image source ``name``'s files are here, else one line saying what is missing and how to get it.

    Checks presence only (``largelr.data.locations``: no torch, no load); a damaged file is reported when a run
    loads it."""
    from largelr.data.locations import files_missing

    missing = files_missing(name)
    return None if missing is None else f"image source {missing}"


def dataset_files_missing(name: str) -> str | None:
    """None when the files of the file-backed dataset ``name`` are where its loader looks, else how to get them."""
    from largelr import catalog

    files = catalog.lookup("DATASETS", name).field("files")  # declared by the dataset (DatasetSpec.files)
    root = files.root()
    if (root / files.marker).exists():
        return None
    return (
        f"{name}: {root / files.marker} not found; download it from {files.url}, then set ${files.env} to its "
        f"folder (or put it in {files.default}); layout in docs/datasets.md"
    )


def standard_train(steps: int, **kw: Any):
    """The standard presets' training: to convergence at ``STANDARD_LOSS_TOL``, capped at ``steps``."""
    from largelr.config import TrainConfig

    return TrainConfig(until="converged", steps=steps, loss_tol=STANDARD_LOSS_TOL, **{"eval_every": 250,
                       "fail_after": 1000, **kw})  # fmt: skip


def tiny_base(metrics: tuple[str, ...] = ("robustness", "compressibility"), **data: Any) -> RunConfig:
    """The ``tiny`` preset's base config (tests only): a second or so per run on one CPU core."""
    from largelr.config import DataConfig, EvalConfig, ModelConfig, TrainConfig

    return RunConfig(
        data=DataConfig(n_train=200, n_val=100, n_test=100, **data),
        model=ModelConfig(kwargs={"width": 16}),
        train=TrainConfig(steps=20, eval_every=10, batch_size=50, fail_after=1000, jtt_steps=10),
        eval=EvalConfig(metrics=metrics, n_repr=50, n_dynamics=60, sparsities=(0.0, 0.5, 0.9)),
    )
