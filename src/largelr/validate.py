"""Checks of a whole RunConfig against the registries, before anything runs or is written.

``config.validate`` checks types and ranges without torch; this adds the checks that need the
registered factories (dataset/model names and their ``kwargs``, metric names).
"""

from __future__ import annotations

from typing import Any

from largelr.config import RunConfig, total_steps, validate
from largelr.errors import ConfigError


def check_config(cfg: RunConfig) -> RunConfig:
    """Raise ConfigError on anything a run would trip over; return ``cfg`` when it is valid."""
    from largelr.data import DATASETS
    from largelr.data.base import COMMON_PARAMS as DATA_COMMON
    from largelr.metrics import METRICS, resolve_metric_names
    from largelr.models import MODELS
    from largelr.models.base import COMMON_PARAMS as MODEL_COMMON
    from largelr.registry import check_kwargs

    validate(cfg)
    check_kwargs(DATASETS.get(cfg.data.name), cfg.data.kwargs, "data.kwargs", skip=DATA_COMMON)
    check_kwargs(MODELS.get(cfg.model.name), cfg.model.kwargs, "model.kwargs", skip=MODEL_COMMON)
    check_sizes(cfg, DATASETS.meta(cfg.data.name), {n: METRICS.meta(n) for n in resolve_metric_names(cfg.eval.metrics)})
    if cfg.augment.flip and not DATASETS.meta(cfg.data.name).get("hflip_preserves_label", False):
        ok = [n for n in DATASETS.names() if DATASETS.meta(n).get("hflip_preserves_label", False)]
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


def check_sizes(cfg: RunConfig, dataset_meta: dict[str, Any], metric_metas: dict[str, dict[str, Any]]) -> None:
    """Split sizes against what the dataset can supply and what each chosen metric needs.

    A dataset declares ``max_samples`` (per split) where it is registered; a metric declares
    ``min_train``/``min_val``/``min_test`` (samples it needs in that split) where it is registered.
    """
    cap = dataset_meta.get("max_samples")
    for split, fld in SPLIT_FIELDS.items():
        n = getattr(cfg.data, fld)
        if cap is not None and n > cap:
            raise ConfigError(
                f"data.{fld}={n} is more than dataset {cfg.data.name!r} can supply: at most {cap} samples per split"
            )
        for name, meta in metric_metas.items():
            need = meta.get(f"min_{split}", 1)
            if n < need:
                raise ConfigError(
                    f"data.{fld}={n} is too small for metric {name!r}, which needs at least {need} {split} samples; "
                    f"raise data.{fld} or remove {name!r} from eval.metrics"
                )
