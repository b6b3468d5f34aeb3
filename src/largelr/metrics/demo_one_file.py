"""A throwaway metric (shows that adding one is one file)."""

from __future__ import annotations

from largelr.metrics.base import METRICS, Key


@METRICS.register("demo_logit_mean", keys={"test/demo_logit_mean": Key("mean test logit", None)})
def demo_logit_mean(ctx) -> dict[str, float]:
    """The mean test logit."""
    return {"test/demo_logit_mean": float(ctx.logits("test").mean())}
