"""What one Slurm array task runs (imported by the Slurm executor when it submits, and on the node): apart
from ``slurm.py`` so that listing the executors does not import submitit."""

from __future__ import annotations

import signal

from submitit.helpers import Checkpointable

from largelr.sweep.worker import Outcome, run_queued


class SlurmRun(Checkpointable):
    """One array task: run the queued config; on the time-out signal, hand over to submitit's requeue."""

    def __call__(self, config_path: str, study: str, threads: int) -> Outcome:
        outcome = run_queued(config_path, study, threads)
        if outcome.kind == "preempted":
            signal.raise_signal(outcome.signum)  # submitit's handler is back: USR2 checkpoints and requeues
        return outcome
