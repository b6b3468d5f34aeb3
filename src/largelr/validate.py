"""Checks of a whole RunConfig against the registries, before anything runs or is written.

``config.validate`` checks types and ranges without torch; this adds the checks that need the
registered factories (dataset/model names and their ``kwargs``, metric names).
"""

from __future__ import annotations

from largelr.config import RunConfig, total_steps, validate
from largelr.errors import ConfigError


def check_config(cfg: RunConfig) -> RunConfig:
    """Raise ConfigError on anything a run would trip over; return ``cfg`` when it is valid."""
    from largelr.data import DATASETS
    from largelr.data.base import COMMON_PARAMS as DATA_COMMON
    from largelr.metrics import resolve_metric_names
    from largelr.models import MODELS
    from largelr.models.base import COMMON_PARAMS as MODEL_COMMON
    from largelr.registry import check_kwargs

    validate(cfg)
    check_kwargs(DATASETS.get(cfg.data.name), cfg.data.kwargs, "data.kwargs", skip=DATA_COMMON)
    check_kwargs(MODELS.get(cfg.model.name), cfg.model.kwargs, "model.kwargs", skip=MODEL_COMMON)
    resolve_metric_names(cfg.eval.metrics)
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
    return cfg
