"""The one place for the report's statistics: the trend test, its effect size and interval, multiplicity, power.

Every table, verdict and knob comparison gets its numbers from ``trend_test`` (one ``Trend`` per test) and
``holm``; nothing else in ``report/`` calls a correlation test. The rules, with a worked example, are in
docs/statistics.md.

- **Design.** Runs that share a seed triple across the values of the axis form a *block*; a test compares
  runs only within blocks (``seed_blocks``). Runs with seeds of their own are one block (an unblocked
  design). Controlling for a column (claim 5b) makes each of its values a block (a stratified design).
- **Statistic.** ρ̄, the mean over informative blocks (at least two distinct x and two distinct y) of the
  Spearman correlation of x and y within the block (average ranks for ties). With blocks of equal size and
  no ties this is Page's trend statistic, rescaled.
- **p-value.** Two-sided, from the permutation distribution of ρ̄ under "y is exchangeable within each block".
  Exact when every block has at most ``EXACT_BLOCK`` runs: each block's permutations are enumerated and the
  blocks' distributions convolved, so designs with far more than 10^6 joint permutations stay exact.
  Otherwise Monte Carlo with ``N_MONTE_CARLO`` draws from a fixed seed, p = (1 + hits) / (1 + draws), with its
  standard error. ``p_min`` is the smallest p the design can give at all.
- **Effect size.** The change of y across the swept range, in y's units: the within-block least-squares
  slope of y on t(x) (t = log10 for a learning rate) times the range of t. Its 95% (and 90%) interval is a
  percentile bootstrap over blocks (``N_BOOTSTRAP`` resamples from a fixed seed); a single block resamples its
  runs. Fewer than ``MIN_UNITS`` resampling units give no interval.
- **Multiplicity.** ``holm`` adjusts a family's p-values (Holm-Bonferroni); verdicts use the adjusted p.
- **Equivalence.** ``tost_p``: two one-sided tests of |change| < δ (the property's smallest effect of
  interest), from the same bootstrap distribution.
- **Power.** ``power`` simulates the whole rule (adjusted p, sign and interval) on the design at a given true
  change and noise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05  # significance level of every test, after multiplicity correction
EXACT_BLOCK = 8  # blocks of at most this many runs are enumerated exactly (8! = 40,320 orders each)
MAX_SUPPORT = 2_000_000  # beyond this many distinct values while convolving blocks: Monte Carlo instead
N_MONTE_CARLO = 20_000
N_BOOTSTRAP = 2_000
MIN_UNITS = 3  # fewest blocks (or runs, in a one-block design) a bootstrap interval is computed from
MIN_RUNS = 3  # fewest runs with values a test is computed from
SEED = 0  # the fixed seed of every Monte Carlo draw and bootstrap


@dataclass(frozen=True)
class Trend:
    """One trend test of y against x.

    Attributes:
        rho: ρ̄, the mean within-block Spearman correlation (NaN when no block is informative).
        change: the fitted change of y across the range of t(x), in y's units.
        ci: its 95% bootstrap interval (NaN, NaN when there is none).
        ci90: its 90% interval (the equivalence test's).
        p: two-sided permutation p-value.
        p_min: the smallest p this design can give (every block in perfect order).
        p_se: the Monte Carlo standard error of p (0 when exact).
        method: "exact" or "Monte Carlo (20000 draws)".
        n: runs with values; blocks: informative blocks; design: "blocked", "stratified" or "unblocked".
        boot: the bootstrap changes (for the equivalence test and power), not shown.
    """

    rho: float
    change: float
    ci: tuple[float, float]
    ci90: tuple[float, float]
    p: float
    p_min: float
    p_se: float
    method: str
    n: int
    blocks: int
    design: str
    boot: np.ndarray

    def tost_p(self, delta: float | None) -> float:
        """p of the equivalence test "|change| < delta" (two one-sided tests on the bootstrap); NaN without
        a delta or an interval."""
        if delta is None or not math.isfinite(self.ci[0]) or not len(self.boot):
            return math.nan
        upper = (1 + np.sum(self.boot >= delta)) / (1 + len(self.boot))
        lower = (1 + np.sum(self.boot <= -delta)) / (1 + len(self.boot))
        return float(max(upper, lower))


def ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of ``v``, ties sharing the mean of their positions."""
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    sv = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        r[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return r


def _block_stats(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Centred ranks of x and y and the normaliser of a block; None when it carries no information."""
    rx, ry = ranks(x), ranks(y)
    cx, cy = rx - rx.mean(), ry - ry.mean()
    sxx, syy = float(cx @ cx), float(cy @ cy)
    if sxx <= 0 or syy <= 0:
        return None
    return cx, cy, math.sqrt(sxx * syy)


def _block_null(cx: np.ndarray, cy: np.ndarray, norm: float) -> tuple[np.ndarray, np.ndarray]:
    """Every value the block's Spearman takes over all orders of y, with how many orders give it."""
    perms = np.array(list(itertools.permutations(cy)))
    vals = np.round(perms @ cx / norm, 12)
    return np.unique(vals, return_counts=True)


def _convolve(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The distribution of the sum of two independent discrete variables (values, counts)."""
    vals = np.round(np.add.outer(a[0], b[0]).ravel(), 9)
    counts = np.multiply.outer(a[1], b[1]).ravel().astype(float)
    u, inv = np.unique(vals, return_inverse=True)
    return u, np.bincount(inv, weights=counts)


def seed_blocks(seed_keys: Sequence[object], x: np.ndarray) -> np.ndarray:
    """Block ids from each run's seed key: runs sharing a key are a block; when no key holds two distinct x
    (every run has seeds of its own), all runs are one block (an unblocked design)."""
    keys = list(seed_keys)
    ids = np.array([list(dict.fromkeys(keys)).index(k) for k in keys]) if keys else np.zeros(0, int)
    if not any(len(set(x[ids == b])) > 1 for b in np.unique(ids)):
        return np.zeros(len(keys), int)
    return ids


def trend_test(
    x: np.ndarray,
    y: np.ndarray,
    blocks: np.ndarray,
    *,
    log_x: bool = False,
    design: str = "blocked",
    monte_carlo: bool | None = None,
    n_boot: int = N_BOOTSTRAP,
    seed: int = SEED,
) -> Trend:
    """The trend test of y against x within blocks (see the module docstring).

    Args:
        x, y: one value per run (finite).
        blocks: one block id per run.
        log_x: the effect size uses log10(x) (a learning rate); the rank test does not depend on it.
        design: the design's name, reported as is.
        monte_carlo: force (True) or forbid (False) the Monte Carlo path; None: exact when every block has at
            most ``EXACT_BLOCK`` runs and the convolution stays under ``MAX_SUPPORT`` values.
        n_boot: bootstrap resamples.
        seed: seed of the Monte Carlo draws and the bootstrap.
    """
    x, y, blocks = (np.asarray(v) for v in (x, y, blocks))
    x, y = x.astype(float), y.astype(float)
    info = []
    for b in dict.fromkeys(blocks.tolist()):
        idx = np.flatnonzero(blocks == b)
        st = _block_stats(x[idx], y[idx])
        if st is not None:
            info.append((idx, *st))
    nan2 = (math.nan, math.nan)
    empty = np.zeros(0)
    if not info:
        return Trend(math.nan, math.nan, nan2, nan2, math.nan, math.nan, 0.0, "none", len(x), 0, design, empty)
    k = len(info)
    obs = sum(float(cy @ cx / norm) for _, cx, cy, norm in info)
    exact = monte_carlo is False or (monte_carlo is None and all(len(idx) <= EXACT_BLOCK for idx, *_ in info))
    p = p_min = math.nan
    p_se = 0.0
    method = "exact"
    if exact:
        dist = None
        for _, cx, cy, norm in info:
            d = _block_null(cx, cy, norm)
            dist = d if dist is None else _convolve(dist, d)
            if len(dist[0]) > MAX_SUPPORT:
                exact = False
                break
        if exact and dist is not None:
            total = dist[1].sum()
            p = float(dist[1][np.abs(dist[0]) >= abs(obs) - 1e-9].sum() / total)
            top = np.abs(dist[0]).max()
            p_min = float(dist[1][np.abs(dist[0]) >= top - 1e-9].sum() / total)
    if not exact:
        rng = np.random.default_rng(seed)
        sims = np.zeros(N_MONTE_CARLO)
        for _, cx, cy, norm in info:
            order = np.argsort(rng.random((N_MONTE_CARLO, len(cy))), axis=1)
            sims += cy[order] @ cx / norm
        hits = int(np.sum(np.abs(sims) >= abs(obs) - 1e-9))
        p = (1 + hits) / (1 + N_MONTE_CARLO)
        p_se = math.sqrt(p * (1 - p) / N_MONTE_CARLO)
        p_min = 2.0 / math.prod(math.factorial(len(idx)) for idx, *_ in info)  # a bound: exact without ties
        method = f"Monte Carlo ({N_MONTE_CARLO} draws)"
    change, boot = _change(x, y, blocks, info, log_x, n_boot, seed)
    ci = _interval(boot, 0.95)
    ci90 = _interval(boot, 0.90)
    n_units = k if k > 1 else len(info[0][0])
    if n_units < MIN_UNITS:
        ci, ci90, boot = nan2, nan2, empty
    return Trend(obs / k, change, ci, ci90, p, p_min, p_se, method, len(x), k, design, boot)


def _t(x: np.ndarray, log_x: bool) -> np.ndarray:
    return np.log10(x) if log_x and (x > 0).all() else x


def _change(x, y, blocks, info, log_x: bool, n_boot: int, seed: int) -> tuple[float, np.ndarray]:
    """The within-block least-squares change of y across the range of t(x), and its bootstrap values."""
    t = _t(x, log_x)
    idxs = [idx for idx, *_ in info]
    used = np.concatenate(idxs)
    span = float(t[used].max() - t[used].min())
    sty = np.array([float((t[i] - t[i].mean()) @ (y[i] - y[i].mean())) for i in idxs])
    stt = np.array([float((t[i] - t[i].mean()) @ (t[i] - t[i].mean())) for i in idxs])
    if stt.sum() <= 0:
        return math.nan, np.zeros(0)
    change = float(sty.sum() / stt.sum() * span)
    rng = np.random.default_rng(seed + 1)
    if len(idxs) > 1:  # resample blocks
        w = rng.multinomial(len(idxs), np.full(len(idxs), 1 / len(idxs)), size=n_boot).astype(float)
        num, den = w @ sty, w @ stt
    else:  # one block: resample its runs
        i = idxs[0]
        pick = rng.integers(0, len(i), size=(n_boot, len(i)))
        tt, yy = t[i][pick], y[i][pick]
        tc = tt - tt.mean(axis=1, keepdims=True)
        num, den = (tc * (yy - yy.mean(axis=1, keepdims=True))).sum(1), (tc * tc).sum(1)
    ok = den > 0
    return change, num[ok] / den[ok] * span


def _interval(boot: np.ndarray, level: float) -> tuple[float, float]:
    if not len(boot):
        return (math.nan, math.nan)
    lo, hi = np.quantile(boot, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo), float(hi))


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values of a family (NaN entries are not in the family and stay NaN).

    >>> holm([0.01, 0.04, 0.03, float("nan")]).round(3).tolist()[:3]
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, dtype=float)
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    if not m:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return out


@dataclass(frozen=True)
class Outcome:
    """A test's verdict under the rule (``decide``): verdict, the reason, and the adjusted numbers behind it."""

    verdict: str
    reason: str


HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


def decide(
    tr: Trend, expect: str, p_adj: float, p_min_adj: float, tost_adj: float, delta: float | None, alpha: float = ALPHA
) -> Outcome:
    """The verdict of one test.

    *holds*: the change has the claim's sign, adjusted p < alpha and the 95% interval excludes 0. *does not
    hold*: the same with the opposite sign, or the equivalence test (adjusted) shows |change| < delta.
    *inconclusive* otherwise, saying whether the design could have reached alpha at all.
    """
    sign = 1 if expect == "higher" else -1
    if not math.isfinite(tr.rho):
        return Outcome(INCONCLUSIVE, "no block with two values of x and y")
    lo, hi = tr.ci
    excl = math.isfinite(lo) and (lo > 0 or hi < 0)
    if math.isfinite(p_adj) and p_adj < alpha and excl and np.sign(lo) == np.sign(hi):
        if np.sign(tr.change) == sign and tr.rho * sign > 0:
            return Outcome(HOLDS, "")
        if np.sign(tr.change) == -sign and tr.rho * sign < 0:
            return Outcome(FAILS, "opposite sign")
    if math.isfinite(tost_adj) and tost_adj < alpha and delta is not None:
        return Outcome(FAILS, f"no effect: |change| < {delta:g} (equivalence test)")
    if not math.isfinite(p_min_adj) or p_min_adj >= alpha:
        return Outcome(
            INCONCLUSIVE, f"underpowered: this design's smallest attainable adjusted p is {fmt_p(p_min_adj)}"
        )
    if not math.isfinite(lo):
        return Outcome(INCONCLUSIVE, f"no interval: fewer than {MIN_UNITS} seed blocks")
    if math.isfinite(p_adj) and p_adj < alpha:
        return Outcome(INCONCLUSIVE, "significant, but the interval of the change includes 0 or disagrees in sign")
    return Outcome(INCONCLUSIVE, "not significant")


def power(
    x: np.ndarray,
    blocks: np.ndarray,
    change: float,
    noise_sd: float,
    expect: str = "higher",
    *,
    family: int = 1,
    log_x: bool = False,
    n_sim: int = 200,
    seed: int = SEED,
    alpha: float = ALPHA,
) -> float:
    """The share of simulated studies on this design in which the test *holds*: y = change * (t - min t) /
    range(t) + N(0, noise_sd^2) per run, and the test's p multiplied by ``family`` (Holm's strictest step)."""
    x, blocks = np.asarray(x, float), np.asarray(blocks)
    t = _t(x, log_x)
    span = float(t.max() - t.min())
    rng = np.random.default_rng(seed + 2)
    hits = 0
    for _ in range(n_sim):
        y = change * (t - t.min()) / span + rng.normal(0.0, noise_sd, len(t))
        tr = trend_test(x, y, blocks, log_x=log_x, n_boot=500, seed=int(rng.integers(1 << 31)))
        p_adj = min(1.0, tr.p * family)
        hits += decide(tr, expect, p_adj, min(1.0, tr.p_min * family), math.nan, None, alpha).verdict == HOLDS
    return hits / n_sim


def residual_sd(x: np.ndarray, y: np.ndarray, blocks: np.ndarray, log_x: bool = False) -> float:
    """The residual standard deviation of y around the within-block linear fit on t(x) (block means and one
    common slope); NaN when there are no degrees of freedom left."""
    x, y, blocks = np.asarray(x, float), np.asarray(y, float), np.asarray(blocks)
    t = _t(x, log_x)
    tc, yc = t.copy(), y.copy()
    ids = list(dict.fromkeys(blocks.tolist()))
    for b in ids:
        m = blocks == b
        tc[m] -= t[m].mean()
        yc[m] -= y[m].mean()
    stt = float(tc @ tc)
    slope = float(tc @ yc) / stt if stt > 0 else 0.0
    dof = len(y) - len(ids) - 1
    return math.sqrt(float(((yc - slope * tc) ** 2).sum()) / dof) if dof > 0 else math.nan


def fmt_p(p: float) -> str:
    """``0.022``, ``4.6e-06``, ``< 1e-15``; ``n/a`` when undefined."""
    if not math.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}" if p >= 1e-15 else "< 1e-15"
