"""Sharpness: the largest eigenvalue lambda_max of the training-loss Hessian, and its relation to 2/eta.

Gradient descent with step size eta on a quadratic with curvature lambda is stable iff lambda <= 2/eta; full-batch
GD on neural networks drives lambda_max up to about 2/eta and then hovers there ("edge of stability", Cohen et
al. 2021, https://arxiv.org/abs/2103.00065). Above eta ~ 2/lambda_0 (lambda_0: the sharpness at initialisation)
training first spikes and then settles in a flatter region ("catapult", Lewkowycz et al. 2020,
https://arxiv.org/abs/2003.02218). This module owns the Hessian-vector product, the power iteration and the
registered end-of-run metric ``sharpness``; it never trains (``largelr.suggest`` measures lambda_0 at
initialisation with ``train.init_model``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from largelr.metrics.base import METRICS, Key
from largelr.seeding import make_generator

LossFn = Callable[[Tensor, Tensor], Tensor]  # (model output, targets) -> mean loss over the batch

# The registered metric's choices (ours): a fixed random subset of the training split (the same samples for
# every LR of a sweep: drawn from the data seed), plain mean cross-entropy, model in eval mode, and Lanczos
# stopped when the top Ritz value moves by less than TOL (relative) or after ITERS products. One product
# costs about three forward passes over the subset.
SUBSET = 1000
ITERS = 30
TOL = 1e-3
CHUNK = 500  # samples per forward pass inside a product; bounds the memory of the double-backward graph


@dataclass(frozen=True)
class TopEigen:
    """The result of ``hessian_max_eigenvalue``.

    Attributes:
        value: the estimate of lambda_max (largest algebraic eigenvalue), a Rayleigh quotient.
        iterations: Hessian-vector products spent (both phases when the shift was needed).
        converged: the last relative change of the estimate was within the tolerance.
        vector: the estimate's eigenvector (the top Ritz vector, or power iteration's last iterate; unit norm,
            one tensor per parameter), a start for a later call (``start``); not compared.
    """

    value: float
    iterations: int
    converged: bool
    vector: tuple[Tensor, ...] | None = field(default=None, compare=False, repr=False)


def stability_edge(sharpness: float, *, momentum: float = 0.0) -> float:
    """The largest step size at which (heavy-ball) gradient descent is stable on a quadratic of curvature
    ``sharpness``: ``2 (1 + momentum) / sharpness`` (inf for a non-positive curvature).

    >>> stability_edge(4.0), stability_edge(4.0, momentum=0.9)
    (0.5, 0.95)
    """
    return 2.0 * (1.0 + momentum) / sharpness if sharpness > 0 else math.inf


def _chunks(data: tuple[Tensor, Tensor], chunk: int | None) -> list[tuple[Tensor, Tensor]]:
    x, y = data
    size = len(x) if chunk is None else max(1, chunk)
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def _dot(a: Sequence[Tensor], b: Sequence[Tensor]) -> Tensor:
    return sum((u * v).sum() for u, v in zip(a, b, strict=True))  # type: ignore[return-value]


class _Hessian:
    """``H(v)``: Hessian-vector products of the mean loss over ``data`` by double backward.

    With one chunk the gradient graph is built once and reused by every product; with several, each
    product recomputes each chunk's gradient (memory bounded by one chunk).
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: tuple[Tensor, Tensor], chunk: int | None) -> None:
        self.model, self.loss_fn = model, loss_fn
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.chunks = _chunks(data, chunk)
        self.n = len(data[0])
        self.cached = self._grads(*self.chunks[0]) if len(self.chunks) == 1 else None

    def _grads(self, x: Tensor, y: Tensor) -> tuple[Tensor, ...]:
        with torch.enable_grad():
            loss = self.loss_fn(self.model(x), y) * (len(x) / self.n)  # chunk means -> the mean over data
            return torch.autograd.grad(loss, self.params, create_graph=True)

    def __call__(self, v: Sequence[Tensor]) -> list[Tensor]:
        out = [torch.zeros_like(p) for p in self.params]
        for x, y in self.chunks:
            g = self.cached if self.cached is not None else self._grads(x, y)
            with torch.enable_grad():
                hv = torch.autograd.grad(_dot(g, v), self.params, retain_graph=self.cached is not None)
            out = [o + h.detach() for o, h in zip(out, hv, strict=True)]
        return out


def hessian_vector_product(
    model: nn.Module, loss_fn: LossFn, data: tuple[Tensor, Tensor], v: Sequence[Tensor], *, chunk: int | None = None
) -> list[Tensor]:
    """H v, where H is the Hessian of the mean of ``loss_fn(model(x), y)`` over ``data`` with respect to the
    model's trainable parameters (in ``model.parameters()`` order), by double backward (Pearlmutter's trick).

    The model is used in whatever mode it is in (callers choose eval mode to switch dropout off).

    Args:
        model: the network; its parameters are not changed.
        loss_fn: ``(output, targets) -> mean loss`` over a batch (e.g. ``F.cross_entropy``).
        data: ``(x, y)``, the whole set the loss averages over.
        v: one tensor per trainable parameter, shaped like it.
        chunk: samples per forward pass (None: all at once).
    """
    return _Hessian(model, loss_fn, data, chunk)(v)


def hessian_max_eigenvalue(
    model: nn.Module,
    loss_fn: LossFn,
    data: tuple[Tensor, Tensor],
    *,
    iters: int = ITERS,
    tol: float = TOL,
    seed: int = 0,
    chunk: int | None = None,
    method: Literal["lanczos", "power"] = "lanczos",
    start: Sequence[Tensor] | None = None,
) -> TopEigen:
    """lambda_max, the largest (algebraic) eigenvalue of the Hessian of the mean loss over ``data``.

    Both methods start from a seeded Gaussian vector (or from ``start``) and stop when the estimate changes by
    at most ``tol`` (relative) between two Hessian-vector products, or after ``iters`` of them.

    - ``"lanczos"`` (default): the largest Ritz value of the Lanczos tridiagonalisation with full
      re-orthogonalisation. It converges to lambda_max even when the top eigenvalues are close (a Hessian
      of cross-entropy with C classes has about C outliers), where power iteration stalls; it stores one
      parameter-sized vector per product (memory ``iters`` x the parameter count).
    - ``"power"``: power iteration; its estimate is the Rayleigh quotient v^T H v of the normalised iterate.
      It finds the eigenvalue of largest magnitude; if that one is negative, a second power iteration on
      H - mu I (mu the negative one, so every shifted eigenvalue is >= 0) finds lambda_max - mu. Memory: two
      parameter vectors, whatever ``iters``.

    Args:
        model: the network; its parameters and mode are not changed.
        loss_fn: ``(output, targets) -> mean loss`` over a batch.
        data: ``(x, y)`` on the model's device (a fixed subset of the training split).
        iters: the most Hessian-vector products (per phase of ``"power"``).
        tol: relative change of the estimate at which to stop.
        seed: seeds the start vector (``make_generator(seed, "sharpness")``).
        chunk: samples per forward pass inside a product (None: all at once).
        method: ``"lanczos"`` or ``"power"``.
        start: the start vector (one tensor per trainable parameter, any norm), e.g. a previous result's
            ``vector``: near the top eigenvector, fewer products reach ``tol``. None: the seeded Gaussian.

    >>> A = torch.diag(torch.tensor([2.0, -3.0]))  # loss w^T A w / 2 of the output w: Hessian A
    >>> quadratic = nn.Linear(1, 2, bias=False)
    >>> loss = lambda w, y: 0.5 * (w @ A * w).sum()
    >>> data = (torch.ones(1, 1), torch.zeros(1))
    >>> round(hessian_max_eigenvalue(quadratic, loss, data).value, 4)
    2.0
    >>> round(hessian_max_eigenvalue(quadratic, loss, data, method="power", iters=200, tol=1e-10).value, 4)
    2.0
    """
    hess = _Hessian(model, loss_fn, data, chunk)
    start = gaussian_start(hess.params, seed) if start is None else list(start)
    if method == "lanczos":
        return _lanczos(hess, start, iters, tol)
    if method != "power":
        raise ValueError(f"method must be 'lanczos' or 'power', got {method!r}")
    first = _power(hess, start, iters, tol, shift=0.0)
    if first.value >= 0:
        return first
    second = _power(hess, start, iters, tol, shift=first.value)
    return TopEigen(second.value, first.iterations + second.iterations, second.converged, second.vector)


def gaussian_start(like: Sequence[Tensor], seed: int) -> list[Tensor]:
    """The cold start vector: a Gaussian shaped like ``like`` (one tensor per parameter), drawn on the CPU from
    ``make_generator(seed, "sharpness")`` and moved to each tensor's device, so it is the same on every device."""
    gen = make_generator(seed, "sharpness")
    return [torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device) for p in like]


def _lanczos(hess: _Hessian, start: list[Tensor], iters: int, tol: float) -> TopEigen:
    """Lanczos with full re-orthogonalisation (twice, "twice is enough"); the largest Ritz value and its vector."""
    shapes = [p.shape for p in hess.params]
    sizes = [p.numel() for p in hess.params]

    def unflat(q: Tensor) -> list[Tensor]:
        return [t.view(s) for t, s in zip(q.split(sizes), shapes, strict=True)]

    def apply(q: Tensor) -> Tensor:
        return torch.cat([h.flatten() for h in hess(unflat(q))])

    def result(k: int, converged: bool) -> TopEigen:
        ritz = torch.stack(basis[:k]).T @ top.to(basis[0].dtype)  # the top Ritz vector, in the Krylov basis
        return TopEigen(value, k, converged, tuple(unflat(ritz / ritz.norm())))

    q = torch.cat([s.flatten() for s in start])
    basis = [q / q.norm()]
    alphas: list[float] = []
    betas: list[float] = []
    value, previous = math.nan, math.nan
    for k in range(1, iters + 1):
        w = apply(basis[-1])
        alphas.append(float(basis[-1] @ w))
        for _ in range(2):
            for b in basis:
                w = w - (b @ w) * b
        T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if betas:
            off = torch.tensor(betas, dtype=torch.float64)
            T = T + torch.diag(off, 1) + torch.diag(off, -1)
        values, vectors = torch.linalg.eigh(T)
        value, top = float(values[-1]), vectors[:, -1]
        beta = float(w.norm())
        scale = max(abs(a) for a in alphas) or 1.0
        if beta <= 1e-10 * scale or not math.isfinite(beta):  # an invariant subspace: the Ritz values are exact
            return result(k, math.isfinite(beta))
        if abs(value - previous) <= tol * abs(value):
            return result(k, True)
        previous = value
        betas.append(beta)
        basis.append(w / beta)
    return result(iters, False)


def _power(hess: _Hessian, start: list[Tensor], iters: int, tol: float, shift: float) -> TopEigen:
    """Power iteration on H - shift I; the returned value is un-shifted (an eigenvalue of H)."""
    norm = math.sqrt(float(_dot(start, start)))
    v = [s / norm for s in start]
    value, previous = math.nan, math.nan
    for k in range(1, iters + 1):
        hv = [h - shift * u for h, u in zip(hess(v), v, strict=True)]
        value = float(_dot(v, hv))  # Rayleigh quotient of the unit vector v
        size = math.sqrt(float(_dot(hv, hv)))
        if size == 0.0 or not math.isfinite(size):  # v is in the null space of H - shift I, or H is not finite
            return TopEigen(value + shift, k, size == 0.0, tuple(v))
        v = [h / size for h in hv]
        if abs(value - previous) <= tol * abs(value):
            return TopEigen(value + shift, k, True, tuple(v))
        previous = value
    return TopEigen(value + shift, iters, False, tuple(v))


def training_subset(split: Any, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``(x, y)``: a fixed random ``n`` samples of ``split`` (all if it has fewer), y on x's device.

    Drawn with ``make_generator(seed, "sharpness_subset")``, so every LR of a sweep (same data seed) measures
    the same samples.
    """
    perm = torch.randperm(len(split.y), generator=make_generator(seed, "sharpness_subset"))[:n].sort().values
    x = split.x[perm.to(split.x.device)]
    return x, split.y[perm.to(split.y.device)].to(x.device)


def sharpness_of(model: nn.Module, split: Any, *, seed: int, n: int = SUBSET) -> TopEigen:
    """lambda_max of the mean cross-entropy of ``model`` (eval mode; its mode is restored) on the fixed
    ``training_subset(split, n, seed)``, with the registered metric's ``ITERS`` and ``TOL``."""
    was_training = model.training
    model.eval()
    try:
        return hessian_max_eigenvalue(
            model, F.cross_entropy, training_subset(split, n, seed), iters=ITERS, tol=TOL, seed=seed, chunk=CHUNK
        )
    finally:
        model.train(was_training)


@METRICS.register(
    "sharpness",
    keys={
        "train/sharpness": Key("sharpness λ_max of the training loss"),
        "train/sharpness_x_lr_over_2": Key("λ_max·η/2 (1 = edge of stability of plain GD)"),
        "train/sharpness_iters": Key("Hessian-vector products spent on λ_max"),
    },
)
def sharpness(ctx) -> dict[str, Any]:
    """Sharpness of the trained model (not in the default set: it costs up to ``ITERS`` Hessian-vector
    products, each about three forward passes over ``SUBSET`` training samples).

    Keys:
        train/sharpness: lambda_max of the Hessian of the mean cross-entropy over a fixed random
            ``SUBSET`` training samples (``sharpness_of``; label smoothing and loss weights are not applied:
            ours, so runs that differ in them are measured on one loss).
        train/sharpness_x_lr_over_2: lambda_max * eta / 2 with eta the LR of the run's last update; 1 is the
            stability edge of plain GD (with momentum beta the edge is at 1 + beta); NaN when the context
            does not know the LR.
        train/sharpness_iters: the products spent (``ITERS`` means the tolerance was not reached).
    """
    top = sharpness_of(ctx.model, ctx.data.splits["train"], seed=ctx.seed)
    lr = getattr(ctx, "lr", None)
    return {
        "train/sharpness": top.value,
        "train/sharpness_x_lr_over_2": top.value * lr / 2 if lr is not None else math.nan,
        "train/sharpness_iters": top.iterations,
    }
