"""What a component declares about itself where it is registered: one typed spec per kind of component.

``@DATASETS.register("name", max_samples=...)`` builds a ``DatasetSpec(name=..., factory=fn, max_samples=...)``;
a keyword that is not a field of the kind's spec is a TypeError at registration (a misspelled declaration
never silently changes behaviour). Readers take the field (``DATASETS.spec(name).max_samples``), with the
default declared here once. No torch import: the read-only commands read these declarations from the
source (``largelr.catalog``) without importing the component's module.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# keyword parameters every dataset builder / model factory gets from the config itself (not from kwargs)
DATASET_COMMON_PARAMS = ("rho", "n_train", "n_val", "n_test", "seed")
MODEL_COMMON_PARAMS = ("input_shape", "num_classes")


@dataclass(frozen=True, kw_only=True)
class Spec:
    """Every component: its config name and the registered object (its factory).

    Attributes:
        name: the name configs and the command line use.
        factory: the registered function (None in a spec read from the source, ``largelr.catalog``).
        where: ``"module:function"`` where it is defined.
    """

    name: str
    factory: Any = None
    where: str = ""


@dataclass(frozen=True, kw_only=True)
class DatasetFiles:
    """Where a file-backed dataset's files are: ``$env`` or ``default`` (or ``data.kwargs.root``), holding
    ``marker``; ``url`` is where they are published and ``how`` says how to get them (they are never
    downloaded automatically)."""

    env: str
    default: str
    marker: str
    url: str = ""
    how: str = ""

    def root(self, given: str = "") -> Path:
        """``given`` (``data.kwargs.root``) if set, else ``$env``, else ``default`` (``~`` expanded)."""
        return Path(given or os.environ.get(self.env) or self.default).expanduser()


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(Spec):
    """A dataset builder ``fn(*, rho, n_train, n_val, n_test, seed, **kwargs) -> SpuriousDataset``.

    Attributes:
        non_semantic: ``data.kwargs`` keys that never change the data (a root path, loader workers): left out
            of the run id.
        ignores: common data parameters the dataset does not use (e.g. ``rho``): left out of the run id.
        max_samples: the most samples per split it can supply (None: no cap).
        hflip_preserves_label: a horizontal flip keeps every label (``augment.flip`` is allowed).
        files: where its published files live (None: built procedurally, offline).
    """

    non_semantic: tuple[str, ...] = ()
    ignores: tuple[str, ...] = ()
    max_samples: int | None = None
    hflip_preserves_label: bool = False
    files: DatasetFiles | None = None


@dataclass(frozen=True, kw_only=True)
class ModelSpec(Spec):
    """A model factory ``fn(*, input_shape, num_classes, **kwargs) -> nn.Module``.

    Attributes:
        non_semantic: ``model.kwargs`` keys that never change the model: left out of the run id.
        tiny: ``model.kwargs`` for the smallest model of the family that still has its structure (every
            kind of layer it builds), which the tests build for each registered model.
    """

    non_semantic: tuple[str, ...] = ()
    tiny: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class MetricSpec(Spec):
    """A metric ``fn(ctx) -> {"split/metric": value}``.

    Attributes:
        keys: every scalar key it emits -> ``largelr.metrics.Key`` (label, direction, property family).
        min_train, min_val, min_test: samples it needs in that split (checked before training).
        needs_regions: it needs the test split's core/spurious region masks.
        applies_to: ``fn(data) -> bool``, whether it applies to a dataset (None: every dataset);
            ``applies_doc`` says to which, in words.
        when: ``"end"``: run once on the trained model when ``eval.metrics`` names it (or a set holding it),
            its keys go to result.json; ``"eval"``: run by the training loop at every evaluation, on every
            run, its keys go to the history rows (in name order, after ``step``, ``epoch`` and ``lr``).
    """

    keys: Mapping[str, Any] = field(default_factory=dict)
    min_train: int = 1
    min_val: int = 1
    min_test: int = 1
    needs_regions: bool = False
    applies_to: Callable[[Any], bool] | None = None
    applies_doc: str = ""
    when: Literal["end", "eval"] = "end"


@dataclass(frozen=True, kw_only=True)
class ExecutorSpec(Spec):
    """An executor ``fn(configs, study, opts, on_done)``.

    Attributes:
        help: one line for ``largelr sweep --help``.
        options: argparse parent parsers with its command-line options.
        check: ``fn(opts)`` raising UserError on bad options, before anything is written.
        writes: whether it writes into the study (``dry`` does not).
    """

    help: str = ""
    options: tuple[Any, ...] = ()
    check: Callable[[Any], None] | None = None
    writes: bool = True


def make_spec(spec_type: type[Spec], kind: str, **fields: Any) -> Spec:
    """``spec_type(**fields)``; a TypeError naming the valid fields when one is not a field of it."""
    valid = {f.name for f in dataclasses.fields(spec_type)}
    unknown = sorted(set(fields) - valid)
    if unknown:
        raise TypeError(
            f"{kind} {fields.get('name')!r}: {spec_type.__name__} has no field {', '.join(unknown)}; "
            f"fields: {', '.join(sorted(valid - {'name', 'factory', 'where'}))}"
        )
    return spec_type(**fields)
