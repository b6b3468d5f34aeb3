"""Checks of a whole RunConfig against the components it names, before anything runs or is written.

``check_config`` is the one entry point: ``config.check_fields`` (each field's type and range alone), then
what needs the components' declarations (dataset/model names and their ``kwargs``, metric names, split
sizes). Both run without torch: the declarations are read from the source (``largelr.catalog``).
"""

from __future__ import annotations

from typing import Any

from largelr.config import RunConfig, check_fields, total_steps
from largelr.errors import ConfigError


def check_config(cfg: RunConfig) -> RunConfig:
    """Raise ConfigError on anything a run would trip over; return ``cfg`` when it is valid."""
    from largelr import catalog
    from largelr.metrics.base import resolve_metric_names
    from largelr.registry import check_values
    from largelr.specs import DATASET_COMMON_PARAMS, MODEL_COMMON_PARAMS

    check_fields(cfg)
    dataset = catalog.lookup("DATASETS", cfg.data.name)
    check_values(dataset.param_types(skip=DATASET_COMMON_PARAMS), cfg.data.kwargs, "data.kwargs")
    model = catalog.lookup("MODELS", cfg.model.name)
    check_values(model.param_types(skip=MODEL_COMMON_PARAMS), cfg.model.kwargs, "model.kwargs")
    metrics = {n: catalog.lookup("METRICS", n) for n in resolve_metric_names(cfg.eval.metrics)}
    check_sizes(cfg, dataset, metrics)
    if cfg.augment.flip and not dataset.field("hflip_preserves_label"):
        ok = [n for n, d in catalog.declared("DATASETS").items() if d.field("hflip_preserves_label")]
        raise ConfigError(
            f"augment.flip is refused on {cfg.data.name!r}: a horizontal flip does not preserve its labels "
            f"(digits are not mirror-symmetric; side-by-side pairs would swap regions); datasets that allow it: "
            f"{', '.join(ok)}"
        )
    if cfg.train.batch_size > cfg.data.n_train:
        raise ConfigError(
            f"train.batch_size ({cfg.train.batch_size}) must not exceed data.n_train ({cfg.data.n_train})"
        )
    if total_steps(cfg.train, cfg.data.n_train) < 1:
        raise ConfigError("the training budget is empty; raise train.steps or train.epochs")
    if cfg.train.tensorboard:
        from largelr.extras import require

        require("tensorboard", "train.tensorboard=True")
    return cfg


SPLIT_FIELDS = {"train": "n_train", "val": "n_val", "test": "n_test"}


def check_sizes(cfg: RunConfig, dataset: Any, metrics: dict[str, Any]) -> None:
    """Split sizes against what the dataset can supply and what each chosen metric needs.

    A dataset declares ``max_samples`` (per split) where it is registered; a metric declares
    ``min_train``/``min_val``/``min_test`` (samples it needs in that split) where it is registered.
    """
    cap = dataset.field("max_samples")
    for split, fld in SPLIT_FIELDS.items():
        n = getattr(cfg.data, fld)
        if cap is not None and n > cap:
            raise ConfigError(
                f"data.{fld}={n} is more than dataset {cfg.data.name!r} can supply: at most {cap} samples per split"
            )
        for name, metric in metrics.items():
            need = metric.field(f"min_{split}")
            if n < need:
                raise ConfigError(
                    f"data.{fld}={n} is too small for metric {name!r}, which needs at least {need} {split} samples; "
                    f"raise data.{fld} or remove {name!r} from eval.metrics"
                )
