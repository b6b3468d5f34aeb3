"""Checkpoint and resume of one run: an interrupted and resumed run ends bit-identical to an
uninterrupted one (history and weights), in the loop and through ``largelr run`` killed by SIGTERM."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from largelr import store
from largelr.checkpoint import Checkpointer, Preempted
from largelr.config import to_json
from largelr.data import build_dataset
from largelr.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


class Crash(Exception):
    """Stands in for a killed process: raised from the history callback, nothing saved at that point."""


def in_memory(every: int, state=None) -> tuple[Checkpointer, list]:
    saved: list = []
    return Checkpointer(lambda s: saved.append(copy.deepcopy(s)), every, state), saved


def canon(rows):
    return [json.dumps(r, sort_keys=True) for r in rows]


@pytest.mark.parametrize(
    "optim",
    [
        ["optim.momentum=0.9"],
        ["optim.name=adam", "optim.lr=0.003"],
        # dropout draws from the (seeded) global RNG, augmentation from its own generator: both are restored
        ["optim.momentum=0.9", "model.kwargs.dropout=0.2", "augment.crop_pad=2", "augment.jitter=0.2"],
    ],
)
@pytest.mark.parametrize("how", ["signal", "crash"])
def test_interrupted_and_resumed_training_is_bitwise_identical(make_cfg, optim, how):
    """60 steps straight vs. interrupted (SIGUSR1 after the step-20 evaluation, or a crash at the step-40
    evaluation after the periodic checkpoint at step 35) and resumed: same history and weights. 10 steps
    make an epoch, so the resume point lies mid-epoch and the permutation must be restored too."""
    cfg = make_cfg(*optim, "train.until=budget", f"train.checkpoint_every={7 if how == 'crash' else 0}")
    data = build_dataset(cfg.data, seed=cfg.seeds.data)
    straight = train(cfg, data)

    def interrupt(row):
        if how == "signal" and row["step"] == 20:
            os.kill(os.getpid(), signal.SIGUSR1)  # handled at the end of the step: checkpoint, then Preempted
        if how == "crash" and row["step"] == 40:
            raise Crash

    ckpt, saved = in_memory(cfg.train.checkpoint_every)
    with pytest.raises(Preempted if how == "signal" else Crash), ckpt:
        train(cfg, data, on_eval=interrupt, checkpoint=ckpt)
    assert saved[-1]["step"] == (20 if how == "signal" else 35)
    assert signal.getsignal(signal.SIGUSR1) is not ckpt._on_signal  # handlers restored on exit

    resumed_rows = []
    ckpt2, _ = in_memory(cfg.train.checkpoint_every, state=saved[-1])
    with ckpt2:
        resumed = train(cfg, data, on_eval=resumed_rows.append, checkpoint=ckpt2)
    assert [r["step"] for r in resumed_rows] == [40, 60]  # only the rows after the checkpoint are recomputed
    assert canon(resumed.history) == canon(straight.history)
    assert resumed.steps == straight.steps == 60
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_sigterm_to_largelr_run_checkpoints_and_the_rerun_resumes_to_the_same_result(make_cfg, tmp_path):
    """``largelr run`` (a subprocess, one thread) gets SIGTERM mid-training: it writes a checkpoint and exits
    143 without DONE; the same command resumes from the checkpoint and ends with the history and
    metrics of the same run trained in one go here."""
    from largelr.run import execute

    extra = ["train.steps=600", "train.eval_every=100", "train.until=budget", "train.checkpoint_every=100000"]
    cfg = make_cfg(*extra)
    out = tmp_path / "killed"
    (tmp_path / "config.json").write_text(to_json(cfg))
    cmd = [sys.executable, "-m", "largelr", "run", "--out", str(out), "--config", str(tmp_path / "config.json")]
    env = {**os.environ, "LARGELR_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rd = store.run_dir(out, cfg)
    deadline = time.time() + 600
    while len(store.read_history(rd) if (rd / store.HISTORY).exists() else []) < 2 and time.time() < deadline:
        time.sleep(0.05)  # wait for the step-100 evaluation: training is under way
    assert proc.poll() is None and len(store.read_history(rd)) >= 2, "training should be under way"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)  # a hang guard
    assert proc.returncode == 143, err
    assert "resumes" in err and "Traceback" not in err
    assert store.run_state(rd) == "incomplete" and (rd / store.CHECKPOINT).is_file()
    step = torch.load(rd / store.CHECKPOINT, weights_only=True)["step"]
    assert 100 <= step < 600

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((rd / store.ENV).read_text())["resumed_from_step"] == step
    assert not (rd / store.CHECKPOINT).exists() and not (rd / store.LEASE).exists()

    execute(cfg, tmp_path / "straight")
    ref = store.load_run(store.run_dir(tmp_path / "straight", cfg))["result"]
    got = store.load_run(rd)["result"]
    assert json.dumps(got["metrics"], sort_keys=True) == json.dumps(ref["metrics"], sort_keys=True)
    assert (rd / store.HISTORY).read_text() == (store.run_dir(tmp_path / "straight", cfg) / store.HISTORY).read_text()
