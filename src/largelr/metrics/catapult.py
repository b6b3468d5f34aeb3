"""Loss spikes ("catapults") in a loss history: a pure function of the sequence of losses.

Above eta ~ 2/lambda_0 gradient descent's loss first grows, then falls as the network moves to a flatter
region (the catapult phase, Lewkowycz et al. 2020, https://arxiv.org/abs/2003.02218; loss spikes in larger
models, Zhu et al. 2024). Not a registered metric: it reads a history, not a model. ``largelr.suggest``
uses it to tell a catapult rung of its LR ladder from a stable or a divergent one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FACTOR = 2.0  # a rise above FACTOR x the running minimum is a spike (ours)
WINDOW = 50  # history entries within which the loss must fall back for the rise to count as a spike (ours)


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
