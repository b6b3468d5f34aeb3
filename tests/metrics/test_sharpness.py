"""Sharpness: power iteration on known Hessians, the HVP against finite differences, edge of stability."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from metric_toys import toy_dataset, wired_mlp
from torch import nn

from largelr.config import EvalConfig
from largelr.evaluate import EvalContext
from largelr.metrics import METRIC_SETS, METRICS
from largelr.metrics.sharpness import (
    ITERS,
    hessian_max_eigenvalue,
    hessian_vector_product,
    sharpness_of,
    stability_edge,
    training_subset,
)
from largelr.models.mlp import mlp
from largelr.seeding import derive_seed, make_generator


def _quadratic(eigenvalues: list[float], seed: int) -> tuple[nn.Module, callable, tuple, torch.Tensor]:
    """A model whose output is its weight vector w and the loss w^T A w / 2, A = Q diag(eigenvalues) Q^T
    with a seeded random rotation Q: the Hessian with respect to w is A."""
    d = len(eigenvalues)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=make_generator(seed, "rotation"), dtype=torch.float64))
    A = Q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ Q.T
    model = nn.Linear(1, d, bias=False).double()
    data = (torch.ones(1, 1, dtype=torch.float64), torch.zeros(1))
    return model, (lambda w, y: 0.5 * (w @ A * w).sum()), data, A


@pytest.mark.parametrize(
    "eigenvalues",
    [
        [4.0, 2.5, 1.0, 0.3, -0.7, -2.0],  # dominant eigenvalue positive: one phase
        [1.5, 0.5, 0.1, -4.0],  # dominant eigenvalue negative: the shifted phase must find 1.5
    ],
)
@pytest.mark.parametrize("method", ["power", "lanczos"])
def test_iterations_on_a_quadratic_return_lambda_max(eigenvalues, method):
    model, loss, data, A = _quadratic(eigenvalues, seed=0)
    exact = float(torch.linalg.eigvalsh(A).max())  # independent: a dense symmetric eigensolver
    assert exact == pytest.approx(max(eigenvalues), rel=1e-12)
    top = hessian_max_eigenvalue(model, loss, data, iters=500, tol=1e-10, seed=3, method=method)
    assert top.converged
    assert abs(top.value - exact) <= 1e-4 * abs(exact)


def test_power_iteration_is_seeded_and_stops_at_its_budget():
    model, loss, data, _ = _quadratic([1.0, 0.99, 0.5], seed=1)  # tiny gap: 3 products cannot converge
    a = hessian_max_eigenvalue(model, loss, data, iters=3, tol=1e-12, seed=5, method="power")
    b = hessian_max_eigenvalue(model, loss, data, iters=3, tol=1e-12, seed=5, method="power")
    assert a == b and a.iterations == 3 and not a.converged
    assert 0.5 <= a.value <= 1.0 + 1e-12  # a Rayleigh quotient lies within the spectrum


@pytest.mark.parametrize("method", ["power", "lanczos"])
def test_vector_is_the_top_eigenvector_and_a_warm_start(method):
    """The returned vector is the top eigenvector of A (from a dense eigensolver, up to sign); started from it, the
    iteration stops at its second product (the estimate no longer moves), where a cold start needs more."""
    model, loss, data, A = _quadratic([4.0, 2.5, 1.0, 0.3, -0.7, -2.0], seed=2)
    u = torch.linalg.eigh(A).eigenvectors[:, -1]
    cold = hessian_max_eigenvalue(model, loss, data, iters=500, tol=1e-10, seed=3, method=method)
    v = cold.vector[0].flatten()  # the one parameter: the (6, 1) weight
    assert float(v.norm()) == pytest.approx(1.0) and abs(float(v @ u)) == pytest.approx(1.0, abs=1e-6)
    warm = hessian_max_eigenvalue(
        model, loss, data, iters=500, tol=1e-10, seed=3, method=method, start=[3.0 * u[:, None]]
    )
    assert warm.value == pytest.approx(4.0, rel=1e-10) and warm.iterations <= 2 < cold.iterations


def _small_mlp() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    gen = make_generator(0, "hvp_data")
    x = torch.randn(24, 1, 4, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (24,), generator=gen)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(0, "hvp_init"))
        model = mlp(input_shape=(1, 4, 4), num_classes=3, width=8, depth=2, bias=True).double()
    return model, (x, y)


def test_hvp_matches_a_finite_difference_of_gradients():
    """H v ~ (grad L(theta + eps v) - grad L(theta - eps v)) / (2 eps): central differences, float64."""
    model, data = _small_mlp()
    params = list(model.parameters())
    gen = make_generator(0, "hvp_direction")
    v = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
    hv = torch.cat([h.flatten() for h in hessian_vector_product(model, F.cross_entropy, data, v)])

    def grad_at(sign: float) -> torch.Tensor:
        eps = 1e-6
        with torch.no_grad():
            for p, u in zip(params, v):
                p.add_(sign * eps * u)
        g = torch.autograd.grad(F.cross_entropy(model(data[0]), data[1]), params)
        with torch.no_grad():
            for p, u in zip(params, v):
                p.sub_(sign * eps * u)
        return torch.cat([t.flatten() for t in g]) / eps

    fd = (grad_at(1.0) - grad_at(-1.0)) / 2
    assert float((hv - fd).norm() / fd.norm()) <= 1e-4
    chunked = torch.cat([h.flatten() for h in hessian_vector_product(model, F.cross_entropy, data, v, chunk=5)])
    assert torch.allclose(chunked, hv, rtol=1e-10, atol=1e-12)  # chunk means weighted back to the full mean


def test_sharpness_metric_against_the_dense_hessian():
    """The registered metric on the toy data (30 training samples, all in the subset) against the largest
    eigenvalue of the full Hessian built by torch.autograd.functional.hessian."""
    data = toy_dataset()
    model = wired_mlp("core").double()
    split = data.splits["train"]
    split64 = type(split)(split.x.double(), split.y, split.s, split.aligned, split.masks)
    x, y = training_subset(split64, 1000, seed=0)
    assert len(y) == 30
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])

    def loss_of(theta: torch.Tensor) -> torch.Tensor:
        parts, i = {}, 0
        for n, s in zip(names, shapes):
            parts[n] = theta[i : i + s.numel()].view(s)
            i += s.numel()
        return F.cross_entropy(torch.func.functional_call(model, parts, (x,)), y)

    spectrum = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flat))
    exact = float(spectrum[-1])
    assert float(spectrum[-3]) / exact > 0.95  # close top eigenvalues (0.8166 twice, 0.7867)
    top = sharpness_of(model, split64, seed=0)  # Lanczos: not misled by the cluster
    assert top.converged and top.iterations < ITERS
    assert top.value == pytest.approx(exact, rel=1e-3)
    power = hessian_max_eigenvalue(model, F.cross_entropy, (x, y), iters=ITERS, tol=1e-3, method="power")
    assert power.value < exact * 0.985  # power iteration stalls in the cluster and stops 2% low

    ctx = EvalContext(model.float(), data, EvalConfig(), seed=0, lr=0.5)
    out = METRICS.get("sharpness")(ctx)
    assert out["train/sharpness"] == pytest.approx(exact, rel=1e-3)
    assert out["train/sharpness_x_lr_over_2"] == pytest.approx(out["train/sharpness"] * 0.25, rel=1e-12)
    assert math.isnan(METRICS.get("sharpness")(EvalContext(model, data, EvalConfig()))["train/sharpness_x_lr_over_2"])
    assert "sharpness" not in METRIC_SETS["default"]  # opt-in: it costs ITERS Hessian-vector products


def test_stability_edge():
    assert stability_edge(4.0) == 0.5 and stability_edge(4.0, momentum=0.5) == 0.75
    assert stability_edge(0.0) == math.inf and stability_edge(-1.0) == math.inf


def _gd_sharpness(eta: float, steps: int, measure_at: set[int]) -> dict[int, float]:
    """Full-batch GD on a tanh MLP (5 -> 32 -> 32 -> 1, float64) regressing sin(x . w*) on 40 Gaussian points
    with the mean squared error / 2: sharpness at the steps in ``measure_at``."""
    gen = make_generator(0, "eos_data")
    x = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    y = torch.sin(x @ torch.randn(5, 1, generator=gen, dtype=torch.float64))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(0, "eos_init"))
        model = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1)).double()

    def loss(out, t):
        return 0.5 * ((out - t) ** 2).mean()

    opt = torch.optim.SGD(model.parameters(), lr=eta)
    seen = {}
    for step in range(steps + 1):
        if step in measure_at:
            seen[step] = hessian_max_eigenvalue(model, loss, (x, y), iters=100, tol=1e-6, seed=0).value
        opt.zero_grad()
        loss(model(x), y).backward()
        opt.step()
    return seen


def test_full_batch_gd_sharpens_to_the_edge_of_stability():
    """Progressive sharpening then edge of stability (Cohen et al. 2021) on a problem small enough to be
    reliable: the tanh MLP of ``_gd_sharpness`` at eta = 0.5 (2/eta = 4) starts at lambda_0 ~ 2.5 and, from
    about step 300, hovers at 2/eta (measured: lambda * eta / 2 within 1.00 +- 0.10 at steps 400-800 for init
    seeds 0-3). At eta = 0.1 the same network stays far below its 2/eta = 20: the plateau is set by eta."""
    late = {400, 450, 500, 550, 600}
    seen = _gd_sharpness(0.5, 600, {0} | late)
    assert seen[0] * 0.5 / 2 < 0.8  # starts well below the edge
    for step in late:
        assert 0.8 <= seen[step] * 0.5 / 2 <= 1.2, (step, seen[step])
    assert _gd_sharpness(0.1, 600, {600})[600] * 0.1 / 2 < 0.5
