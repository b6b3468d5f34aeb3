"""Training throughput: largelr's loop vs a minimal hand-written PyTorch loop, side by side.

Same MLP, same Double MNIST tensors, same batch size and optimizer. The minimal loop is what one
would write by hand: a random permutation per epoch, index, forward, cross-entropy, backward, step.
Each loop runs ``--repeats`` times, alternating, and the best time of each is compared.

    .venv/bin/python benchmarks/train_throughput.py [--steps 3000] [--repeats 4] [--threads 1]

One torch thread by default: that is how sweep runs execute (``--jobs`` = cores, one thread each),
and on a shared 2-vCPU machine two-thread timings of the *same* loop vary by 30% between repeats.

Reports samples/s and the ratio largelr / minimal (target >= 0.9). "largelr (steps only)" is the
training steps of ``train()`` without any evaluation (its ``train_seconds``: the loop's own per-step
cost); "largelr (wall)" is the whole ``train()`` call including its start and final evaluations
(eval_every = steps); "largelr (default evals)" also evaluates every ``train.eval_every`` steps
(default 1000) as a default run does: full-split loss/accuracy on train/val/test plus the
training-dynamics subset.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from largelr.config import RunConfig, apply_overrides
from largelr.data import build_dataset
from largelr.optim import build_optimizer
from largelr.train import init_model, train


def minimal_loop(cfg: RunConfig, data, steps: int) -> float:
    model = init_model(cfg, data, torch.device("cpu"))
    opt = build_optimizer(model, cfg.optim)
    X, Y = data.splits["train"].x, data.splits["train"].y
    N, B = len(Y), cfg.train.batch_size
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    perm, pos = None, N
    for _ in range(steps):
        if pos + B > N:
            perm, pos = torch.randperm(N, generator=g), 0
        idx = perm[pos : pos + B]
        pos += B
        loss = F.cross_entropy(model(X[idx]), Y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def largelr_loop(cfg: RunConfig, data) -> tuple[float, float]:
    """Wall time of the whole ``train()`` call, and of its training steps alone (``train_seconds``)."""
    t0 = time.perf_counter()
    outcome = train(cfg, data)
    return time.perf_counter() - t0, outcome.train_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    base = apply_overrides(RunConfig(), [f"train.steps={args.steps}", "train.until='budget'", "optim.lr=0.1"])
    wall_cfg = apply_overrides(base, [f"train.eval_every={args.steps}"])
    data = build_dataset(base.data, seed=0)
    samples = args.steps * base.train.batch_size
    minimal_loop(base, data, 200)  # warm-up (allocator, kernels) outside the timings
    names = ["minimal", "largelr (steps only)", "largelr (wall)", "largelr (default evals)"]
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.repeats):
        times["minimal"].append(minimal_loop(base, data, args.steps))
        wall, steps_only = largelr_loop(wall_cfg, data)
        times["largelr (wall)"].append(wall)
        times["largelr (steps only)"].append(steps_only)
        times["largelr (default evals)"].append(largelr_loop(base, data)[0])
    best = {k: min(v) for k, v in times.items()}
    median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print(
        f"MLP {base.model.kwargs or '(defaults)'} on Double MNIST 28x56, batch {base.train.batch_size}, "
        f"{args.steps} steps, {torch.get_num_threads()} threads, best of {args.repeats}, "
        f"default eval every {base.train.eval_every} steps"
    )
    for name, t in best.items():
        print(f"  {name:26s} {samples / t:10.0f} samples/s   (best {t:.2f} s, median {median[name]:.2f} s)")
    for name in names[1:]:
        print(f"  ratio {name} / minimal: {best['minimal'] / best[name]:.3f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
