"""A sweep's safety on one machine: SIGKILLs at random moments never leave a damaged finished run and
reruns end equal to an uninterrupted sweep; two sweeps at once train each run once; pool workers die
with their driver; status from the filesystem; TensorBoard event files."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from largelr import store
from largelr.cli import main
from largelr.sweep import load_experiment, run_sweep
from threads import torch_threads

EXPERIMENT = Path(__file__).parent / "fixtures" / "tiny_sweep.py"
RUN_FILES = {"config.json", "env.json", "history.jsonl", "result.json", "model.pt", "DONE"}


def sweep_cmd(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "largelr", "sweep", str(EXPERIMENT), "--out", str(out), "--no-progress", *args]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The tiny sweep serially in this process, one thread (as each pool child of --jobs 2 on 2 cores)."""
    out = tmp_path_factory.mktemp("straight") / "study"
    with torch_threads(1):
        run_sweep(load_experiment(EXPERIMENT).configs, out, progress=False)
    return out


def assert_finished_runs_intact(study: Path) -> int:
    """Every directory with DONE has all its files, readable; returns how many are done."""
    done = 0
    for rd in study.iterdir() if study.exists() else []:
        if (rd / store.DONE).exists():
            assert {p.name for p in rd.iterdir()} >= RUN_FILES, rd
            store.load_run(rd)
            store.load_weights(rd)
            assert len(store.read_history(rd)) == 5  # steps 0, 50, ..., 200
            done += 1
    return done


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state


@pytest.mark.slow
def test_sigkill_at_random_moments_then_rerun_equals_an_uninterrupted_sweep(uninterrupted, tmp_path):
    out = tmp_path / "study"
    rng = random.Random(9)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for _ in range(3):
        proc = subprocess.Popen(sweep_cmd(out, "--jobs", "2"), env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        # The kill moment is random from the moment a run is claimed (or the sweep ends): counted from the
        # start instead, a loaded machine spends all of it importing torch and no kill lands in a run.
        deadline = time.time() + 300  # a hang guard
        while proc.poll() is None and not list(out.glob("*/" + store.LEASE)) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 8.0))
        with contextlib.suppress(ProcessLookupError):  # the sweep ended (and poll reaped it) before this moment
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers at once
        proc.wait()
        assert_finished_runs_intact(out)
    final = subprocess.run(sweep_cmd(out, "--jobs", "2"), capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stdout + final.stderr
    assert assert_finished_runs_intact(out) == 2
    for rd in store.run_dirs(uninterrupted):
        got = out / rd.name
        assert (got / store.HISTORY).read_text() == (rd / store.HISTORY).read_text()
        a, b = (json.loads((d / store.RESULT).read_text())["metrics"] for d in (rd, got))
        assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
        assert not (got / store.LEASE).exists()


@pytest.mark.slow
def test_two_sweeps_started_at_once_train_each_run_exactly_once(tmp_path):
    out = tmp_path / "study"
    procs = [subprocess.Popen(sweep_cmd(out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]  # fmt: skip
    texts = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], texts
    trained = [int(t.split(" run now")[0].rsplit(", ", 1)[1]) for t in texts]
    assert sum(trained) == 2, texts
    trainers = [json.loads((rd / store.ENV).read_text())["worker"]["pid"] for rd in store.run_dirs(out)]
    assert len(trainers) == 2 and set(trainers) <= {p.pid for p in procs}
    assert sorted(trainers.count(p.pid) for p in procs) == sorted(trained)


@pytest.mark.slow
def test_pool_workers_exit_when_only_their_driver_is_killed(tmp_path):
    out = tmp_path / "study"
    cmd = sweep_cmd(out, "--jobs", "2", "--set", "train.steps=20000", "--set", "train.eval_every=1000")
    driver = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Wait until both runs are provably training: a lease is held before training starts (the dataset is
        # built, the directory cleared), when a SIGTERM cannot checkpoint yet; the step-0 history row is
        # written inside train(), after the checkpoint's signal handler is installed. Under load (2 cores,
        # load 26) the workers' imports and dataset builds took more than 5 minutes: the limits are hang guards.
        deadline = time.time() + 1800
        held: list[dict] = []
        while len(held) < 2 and time.time() < deadline:
            held = [x for rd in (out.glob("*/") if out.exists() else []) if (x := training_lease(rd))]
            time.sleep(0.2)
        assert len(held) == 2, "both workers should be training"
        pids = [x["pid"] for x in held]
        assert all(alive(p) for p in pids)
        os.kill(driver.pid, signal.SIGKILL)  # the driver only
        driver.wait()
        deadline = time.time() + 600  # a worker in an evaluation checkpoints only after it
        while any(alive(p) for p in pids) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(alive(p) for p in pids), "workers outlived their driver"
        assert all((rd / store.CHECKPOINT).exists() for rd in store.run_dirs(out))  # SIGTERM made them checkpoint
    finally:  # whatever failed, no 20,000-step sweep outlives the test
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()


def training_lease(rd: Path) -> dict | None:
    """The lease of a run whose training is under way (a history row written), else None."""
    lease = store.leases.read_lease(rd / store.LEASE)
    history = rd / store.HISTORY
    return lease if lease and history.is_file() and history.stat().st_size > 0 else None


def trainer_pid(rd: Path) -> int:
    return json.loads((rd / store.ENV).read_text())["worker"]["pid"]


def test_pool_workers_each_serve_many_runs(tmp_path):
    """4 runs on --jobs 2 are trained by at most 2 processes (not one fresh process per run)."""
    base = load_experiment(EXPERIMENT).configs
    configs = [replace(c, seeds=replace(c.seeds, init=s)) for c in base for s in (0, 1)]
    summary = run_sweep(configs, tmp_path / "study", jobs=2, progress=False)
    assert summary.statuses["ok"] == 4 and not summary.errors
    trainers = [trainer_pid(rd) for rd in store.run_dirs(tmp_path / "study")]
    assert len(trainers) == 4 and len(set(trainers)) <= 2 and os.getpid() not in trainers


def test_a_killed_pool_worker_costs_only_its_own_run(tmp_path):
    """SIGKILL one worker mid-run: that run is an error naming the dead worker, the others finish."""
    out = tmp_path / "study"
    base = load_experiment(EXPERIMENT).configs
    long = replace(base[0], train=replace(base[0].train, steps=20000, eval_every=1000))
    configs = [long, base[1], replace(base[1], seeds=replace(base[1].seeds, init=1))]
    killed: list[int] = []

    def kill_when_training() -> None:
        deadline = time.time() + 1800  # a hang guard: under load a worker's start takes minutes
        while not killed and time.time() < deadline:
            lease = store.leases.read_lease(store.run_dir(out, long) / store.LEASE)
            if lease:
                os.kill(lease["pid"], signal.SIGKILL)
                killed.append(lease["pid"])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_training)
    killer.start()
    summary = run_sweep(configs, out, jobs=2, progress=False)
    killer.join()
    assert killed, "the long run never started"
    assert len(summary.errors) == 1 and "worker died (exit code -9)" in summary.errors[0], summary.errors
    assert summary.statuses["ok"] == 2
    assert store.run_state(store.run_dir(out, long)) != "done"


def test_status_reads_the_filesystem_and_names_stale_and_running_leases(study_copy, capsys):
    stale, running = study_copy / "aaaaaaaaaaaaaaaa", study_copy / "bbbbbbbbbbbbbbbb"
    for rd, pid, age in ((stale, 1, store.leases.LEASE_TIMEOUT + 10), (running, os.getpid(), 0)):
        rd.mkdir()
        (rd / store.LEASE).write_text(json.dumps({"host": "nodeX", "pid": pid, "token": "t"}))
        os.utime(rd / store.LEASE, (time.time() - age, time.time() - age))
    failed = study_copy / "cccccccccccccccc"
    failed.mkdir()
    (failed / store.CONFIG).write_text("{}")
    (failed / store.FAILED).write_text("Traceback ...\nValueError: boom\n")
    assert main(["status", str(study_copy)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{study_copy}: 1 done (1 ok), 1 running, 1 failed, 1 stale, 0 incomplete, 0 damaged"
    assert lines[1:4] == [  # sorted by run id (then main's outdated-id warning for the fake config)
        f"  stale    {stale.name} nodeX pid 1",
        f"  running  {running.name} nodeX pid {os.getpid()}",
        f"  failed   {failed.name}",
    ]


def test_tensorboard_event_files_hold_the_history_scalars(make_cfg, tmp_path, one_thread):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from largelr.run import execute

    cfg = make_cfg("train.tensorboard=True")
    execute(cfg, tmp_path)
    rd = store.run_dir(tmp_path, cfg)
    assert list(store.tensorboard_dir(rd).glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(store.tensorboard_dir(rd)))
    acc.Reload()
    history = store.read_history(rd)
    assert set(acc.Tags()["scalars"]) == {k for k in history[0] if k != "step"}
    for key in ("train/loss", "test/acc"):
        events = acc.Scalars(key)
        assert [e.step for e in events] == [row["step"] for row in history] == [0, 20, 40, 60]
        assert [e.value for e in events] == pytest.approx([row[key] for row in history], rel=1e-6)


def test_tensorboard_is_not_part_of_the_run_id(make_cfg):
    from largelr.config import run_id

    assert run_id(make_cfg("train.tensorboard=True", "train.checkpoint_every=10")) == run_id(make_cfg())


def test_a_run_that_raises_is_recorded_failed_with_its_traceback_and_retried_by_the_next_sweep(
    make_cfg, tmp_path, monkeypatch, one_thread
):
    import largelr.train

    cfg = make_cfg()
    rd = store.run_dir(tmp_path, cfg)

    def broken(*args, **kwargs):
        raise ValueError("boom in training")

    monkeypatch.setattr(largelr.train, "train", broken)
    summary = run_sweep([cfg], tmp_path, progress=False)
    assert summary.statuses == {"error": 1} and "ValueError: boom in training" in summary.errors[0]
    assert "Traceback" in (rd / store.FAILED).read_text() and "broken" in (rd / store.FAILED).read_text()
    assert store.run_state(rd) == "failed" and not (rd / store.LEASE).exists()
    monkeypatch.undo()
    summary = run_sweep([cfg], tmp_path, progress=False)
    assert summary.statuses == {"ok": 1}
    assert store.run_state(rd) == "done" and not (rd / store.FAILED).exists()


def test_a_serial_sweep_stops_at_a_signal_instead_of_starting_the_next_run(make_cfg, tmp_path, monkeypatch):
    import signal as sig

    from largelr.checkpoint import Preempted
    from largelr.sweep.executors import local
    from largelr.sweep.worker import Outcome

    started = []

    def preempted(cfg, study):
        started.append(cfg)
        return Outcome("preempted", message="stopped at step 20 on SIGTERM; checkpoint saved", signum=sig.SIGTERM)

    monkeypatch.setattr(local, "run_one", preempted)
    with pytest.raises(Preempted, match="step 20"):
        run_sweep([make_cfg("optim.lr=0.05"), make_cfg("optim.lr=0.2")], tmp_path, progress=False)
    assert len(started) == 1
