"""Loss spikes and catapults in a loss history: pure functions of the sequence of losses.

Above eta ~ 2/lambda_0 gradient descent's loss first grows, then falls as the network moves to a flatter
region (the catapult phase, Lewkowycz et al. 2020, https://arxiv.org/abs/2003.02218; loss spikes in larger
models, Zhu et al. 2024). Below it the loss can spike too, later: training sharpens the loss (lambda_max rises,
Cohen et al. 2021, https://arxiv.org/abs/2103.00065) until lambda_max ~ 2/eta, and from then on the loss
oscillates and spikes at the edge of stability. ``detect_spikes`` finds every spike; ``catapults`` keeps the
ones that start before the loss has fallen far from its initial value (``EARLY``), i.e. the instability of the
initial curvature, not of a curvature reached by sharpening. On a 2 x 32 ReLU MLP on 500 Double MNIST images,
full-batch GD and SGD alike, the loss already spikes at 1/10 of 2/lambda_0 (the sharpness had risen about
tenfold within the first tens of steps), but those spikes start after the loss has fallen below half of its
initial value; with full-batch GD the spikes that start near the initial loss (catapults) appear from half of
2/lambda_0 on, never at 0.35 of it or below (``tests/metrics/test_catapult.py``); with SGD on 50-sample
batches from 1/5 of it on (measured once, 200 steps at 10 LRs; the batches' own Hessians are sharper: their
mean lambda_max was 1.7 x lambda_0). Not a registered metric: it reads a history, not a model.
``largelr.suggest`` uses it to classify a rung of its LR ladder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FACTOR = 2.0  # a rise above FACTOR x the running minimum is a spike (ours)
WINDOW = 50  # history entries within which the loss must fall back for the rise to count as a spike (ours)
EARLY = 0.5  # a spike is a catapult when it starts before the loss has fallen below EARLY x its initial value (ours)


@dataclass(frozen=True)
class Spike:
    """One detected spike, as indices into the history.

    Attributes:
        start: the first entry above ``factor`` x the running minimum.
        peak: the highest entry between start and end.
        end: the first entry back at or below ``factor`` x the running minimum of before the spike.
        height: loss at the peak / running minimum before the spike.
    """

    start: int
    peak: int
    end: int
    height: float


def detect_spikes(
    losses: Sequence[float], *, factor: float = FACTOR, window: int = WINDOW, min_rise: float = 0.0
) -> list[Spike]:
    """Loss spikes: rises above ``factor`` x the running minimum that fall back within ``window`` entries.

    The rule (ours): with m_t the minimum of the losses before entry t, a spike starts at the first t with
    L_t > factor * m_t and L_t - m_t > min_rise; it ends at the first later entry u <= t + window with
    L_u <= factor * m_t (m_t frozen at the start). A rise that does not fall back within the window, or that
    reaches a non-finite loss, is not a spike (that is divergence, or a new plateau) and ends the scan. The
    scan resumes after each spike's end with the running minimum restarted at the loss there (so the slow
    tail of one spike is not counted as the next), and one history can hold several spikes. ``min_rise``
    (absolute) keeps noise on a loss near 0 from counting.

    Args:
        losses: the loss at consecutive evaluations (e.g. ``train/loss`` of the history rows).
        factor: how many times the running minimum the loss must exceed (> 1).
        window: entries within which the loss must fall back (>= 1).
        min_rise: the smallest absolute rise above the running minimum that counts.

    >>> detect_spikes([2.0, 1.0, 0.5, 3.0, 6.0, 0.8, 0.4, 0.3])
    [Spike(start=3, peak=4, end=5, height=12.0)]
    >>> detect_spikes([2.0, 1.0, 0.5, 3.0, 6.0, 12.0, float("nan")])  # divergence, not a spike
    []
    """
    if factor <= 1.0 or window < 1:
        raise ValueError(f"need factor > 1 and window >= 1, got factor={factor}, window={window}")
    spikes: list[Spike] = []
    running = math.inf
    t = 0
    n = len(losses)
    while t < n:
        loss = float(losses[t])
        if not math.isfinite(loss):
            break
        if loss > factor * running and loss - running > min_rise:
            threshold, peak = factor * running, t
            end = None
            for u in range(t + 1, min(n, t + window + 1)):
                later = float(losses[u])
                if not math.isfinite(later):
                    break
                if later <= threshold:
                    end = u
                    break
                if later > float(losses[peak]):
                    peak = u
            if end is None:
                break
            spikes.append(Spike(t, peak, end, float(losses[peak]) / running))
            running = float(losses[end])  # the baseline restarts where the spike fell back (its tail is no new one)
            t = end + 1
            continue
        running = min(running, loss)
        t += 1
    return spikes


def catapults(
    losses: Sequence[float], *, early: float = EARLY, factor: float = FACTOR, window: int = WINDOW
) -> list[Spike]:
    """The spikes of ``detect_spikes`` that are catapults: the running minimum before the spike (its peak over its
    height) is still at least ``early`` x the initial loss ``losses[0]``.

    The rule (ours): a catapult is the instability of the initial curvature (eta > 2/lambda_0), so the loss grows
    before it has had time to fall; a spike that starts after the loss fell below ``early`` x its initial value is
    the edge-of-stability kind (the curvature was reached by sharpening) and is not a catapult. With ``factor``
    2 and ``early`` 0.5 a catapult's peak exceeds the initial loss.

    >>> catapults([2.3, 2.0, 5.0, 8.0, 1.0, 0.5, 0.2, 0.9, 0.1])  # the first spike, not the late one
    [Spike(start=2, peak=3, end=4, height=4.0)]
    """
    found = detect_spikes(losses, factor=factor, window=window)
    if not found:
        return []
    start = float(losses[0])
    return [s for s in found if float(losses[s.peak]) / s.height >= early * start]
