"""Checkpoint and resume of one training run, and the signals that ask for a checkpoint.

The training loop calls ``Checkpointer.after_step`` once per step. A checkpoint is written every
``every`` steps and when SIGTERM, SIGUSR1 or SIGUSR2 arrives (what Slurm sends before preemption or time-out,
and what a dying sweep driver sends its workers); after a signal the run stops with ``Preempted``.
The state holds everything the rest of the run depends on (model, optimizer, step, the order
generator and the current epoch's permutation, the global torch RNG, the history so far), so a
resumed run ends with the same numbers as an uninterrupted one (bitwise on CPU).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)  # USR2: what submitit asks Slurm to send at time-out


class Preempted(Exception):
    """Training stopped at signal ``signum`` after writing a checkpoint; rerunning the run resumes it."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


class Checkpointer:
    """Saves training state through ``save`` every ``every`` steps (0: only on a signal).

    Args:
        save: writes a state dict somewhere durable (e.g. ``store.save_checkpoint`` bound to a run).
        every: steps between checkpoints; 0 checkpoints only when a signal arrives.
        state: a state saved earlier to resume from, or None to start fresh.
    """

    def __init__(self, save: Callable[[dict[str, Any]], None], every: int = 0, state: dict[str, Any] | None = None):
        self.save, self.every, self.state = save, every, state
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Checkpointer:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.requested = signum  # acted on at the end of the current step, where the state is consistent

    def after_step(self, step: int, snapshot: Callable[[], dict[str, Any]]) -> None:
        """Checkpoint when due; after a signal also stop (raises Preempted)."""
        if self.requested is not None or (self.every and step % self.every == 0):
            self.save({"step": step, **snapshot()})
        if self.requested is not None:
            name = signal.Signals(self.requested).name
            raise Preempted(f"stopped at step {step} on {name}; checkpoint saved", self.requested)


def snapshot(model, optimizer, order, perm, pos, outcome: Any, generators: dict | None = None) -> dict[str, Any]:
    """Everything the rest of the training loop depends on (``Checkpointer.after_step`` adds the step).

    ``generators``: further named ``torch.Generator``s the loop draws from (e.g. the augmentation's).
    """
    import torch

    return {
        "generators": {k: g.get_state() for k, g in (generators or {}).items()},
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "order": order.get_state(),
        "torch_rng": torch.get_rng_state(),
        "perm": perm.cpu(),
        "pos": pos,
        "history": outcome.history,
        "seconds": [outcome.train_seconds, outcome.eval_seconds],
    }


def resume(
    state: dict[str, Any], model, optimizer, order, outcome: Any, generators: dict | None = None
) -> tuple[int, Any, int]:
    """Restore a ``snapshot`` into the loop's objects; returns the next step, the epoch's permutation and
    the position in it."""
    import torch

    for name, g in (generators or {}).items():
        g.set_state(state["generators"][name])
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    order.set_state(state["order"])
    torch.set_rng_state(state["torch_rng"])
    outcome.history = list(state["history"])
    outcome.train_seconds, outcome.eval_seconds = state["seconds"]
    outcome.steps = state["history"][-1]["step"]
    return state["step"] + 1, state["perm"], state["pos"]
