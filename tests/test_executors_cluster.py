"""The Ray and Slurm executors against real clusters started here (see ``clusters.py``): results equal
a local sweep's, a killed Ray worker is retried and resumed, a requeued Slurm job resumes from its
checkpoint. Where a cluster cannot be started the tests skip with the reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from largelr import store
from largelr.cli import main
from largelr.sweep import load_experiment, run_sweep
from threads import torch_threads

pytestmark = pytest.mark.slow
EXPERIMENT = Path(__file__).parent / "fixtures" / "tiny_sweep.py"
# Long enough to interrupt: ~2 ms a step on one idle core, so the first checkpoint (step 100) leaves ~3.5 s
# of training in which the fault tests kill or requeue the run (500 steps finished before a requeue).
LONG = ["train.steps=2000", "train.eval_every=500", "train.checkpoint_every=100"]
FIRST_CHECKPOINT = 100


def reference(tmp_path_factory, overrides: list[str]) -> Path:
    """The sweep run serially in this process on one thread (what a 1-CPU worker uses)."""
    out = tmp_path_factory.mktemp("reference") / "study"
    with torch_threads(1):
        summary = run_sweep(load_experiment(EXPERIMENT, overrides).configs, out, progress=False)
    assert summary.statuses["ok"] == 2
    return out


@pytest.fixture(scope="module")
def local_short(tmp_path_factory) -> Path:
    return reference(tmp_path_factory, [])


@pytest.fixture(scope="module")
def local_long(tmp_path_factory) -> Path:
    return reference(tmp_path_factory, LONG)


def assert_same_runs(a: Path, b: Path) -> None:
    """Same run directories, each DONE once, with identical metrics, history and weights."""
    ids = sorted(p.name for p in store.run_dirs(a))
    assert sorted(p.name for p in store.run_dirs(b)) == ids and len(ids) == 2
    for rid in ids:
        ra, rb = a / rid, b / rid
        assert store.run_state(rb) == "done"
        ma, mb = (json.loads((r / store.RESULT).read_text())["metrics"] for r in (ra, rb))
        assert json.dumps(ma, sort_keys=True) == json.dumps(mb, sort_keys=True)
        assert (ra / store.HISTORY).read_text() == (rb / store.HISTORY).read_text()
        wa, wb = store.load_weights(ra), store.load_weights(rb)
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
        assert not (rb / store.LEASE).exists() and not (rb / store.CHECKPOINT).exists()


def driver(out: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "largelr", "sweep", str(EXPERIMENT), "--out", str(out), "--no-progress", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def wait_for(cond, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def first_checkpointed_lease(out: Path) -> dict | None:
    """The lease of a run that is provably mid-training: it has written a checkpoint, is not done, and
    the lease holder is alive."""
    for rd in sorted(out.glob("*/")) if out.exists() else []:
        lease = store.leases.read_lease(rd / store.LEASE)
        if lease and (rd / store.CHECKPOINT).exists() and not (rd / store.DONE).exists() and alive(lease["pid"]):
            return {**lease, "dir": rd}
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_still_training(victim: dict) -> None:
    """Just before the fault: the victim has not finished (else the fault would prove nothing)."""
    assert not (victim["dir"] / store.DONE).exists() and alive(victim["pid"]), "run finished before the fault"


# ---------------------------------------------------------------------------------------------- Ray


def test_ray_sweep_equals_the_local_sweep(ray_cluster, local_short, tmp_path):
    out = tmp_path / "ray"
    proc = driver(out, "--executor", "ray", "--address", ray_cluster.address)  # Ray stays out of pytest's process
    text, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, text
    assert "2 run now (2 ok)" in text
    assert_same_runs(local_short, out)


def test_ray_worker_killed_mid_run_is_retried_and_resumed(ray_cluster, local_long, tmp_path):
    """SIGKILL to the worker process training a run: Ray retries the task, the retry takes over the
    dead worker's lease and resumes from its checkpoint; every run is done once, results unchanged."""
    out = tmp_path / "ray"
    sets = [a for s in LONG for a in ("--set", s)]
    proc = driver(out, "--executor", "ray", "--address", ray_cluster.address, *sets)
    victim = wait_for(lambda: first_checkpointed_lease(out), 1200, "a run to checkpoint under Ray")
    assert_still_training(victim)
    os.kill(victim["pid"], signal.SIGKILL)
    text, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, text
    assert "2 run now (2 ok)" in text
    env = json.loads((victim["dir"] / store.ENV).read_text())
    assert env["worker"]["pid"] != victim["pid"] and env["resumed_from_step"] >= FIRST_CHECKPOINT
    assert_same_runs(local_long, out)


# -------------------------------------------------------------------------------------------- Slurm


def job_state(cluster, job: str) -> str:
    out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=cluster.env, capture_output=True, text=True)
    return out.stdout.strip()


def array_task(pid: int) -> str:
    """``ARRAYID_TASKID`` of the Slurm array task that process ``pid`` runs in (from its environment)."""
    env = dict(kv.split("=", 1) for kv in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in kv)
    return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"


def release(cluster, job: str) -> bool:
    """Set a pending requeued job's start time to now; False while it is still completing."""
    if job_state(cluster, job) != "PENDING":
        return False
    cmd = ["scontrol", "update", f"JobId={job}", "StartTime=now"]
    return subprocess.run(cmd, env=cluster.env, capture_output=True).returncode == 0


def test_slurm_sweep_equals_the_local_sweep(slurm_cluster, local_short, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    out = tmp_path / "slurm"
    rc = main(["sweep", str(EXPERIMENT), "--out", str(out), "--no-progress", "--executor", "slurm", "--time", "10"])
    assert rc == 0, capsys.readouterr()
    assert "2 run now (2 ok)" in capsys.readouterr().out
    assert sorted(p.name for p in (out / store.QUEUE).iterdir()) == sorted(
        f"{p.name}.json" for p in store.run_dirs(out)
    )
    assert_same_runs(local_short, out)


def test_requeued_slurm_job_resumes_from_its_checkpoint(slurm_cluster, local_long, tmp_path):
    """``scontrol requeue`` of a running array task: Slurm stops and requeues it, the new attempt resumes
    from the run's checkpoint and ends with the uninterrupted run's numbers."""
    out = tmp_path / "slurm"
    sets = [a for s in LONG for a in ("--set", s)]
    proc = driver(out, "--executor", "slurm", "--time", "10", *sets, env=slurm_cluster.env)
    victim = wait_for(lambda: first_checkpointed_lease(out), 1200, "a run to checkpoint under Slurm")
    job = array_task(victim["pid"])  # the array task whose process holds the victim's lease
    assert job_state(slurm_cluster, job) == "RUNNING"
    assert_still_training(victim)
    t0 = time.time()
    requeue = subprocess.run(["scontrol", "requeue", job], env=slurm_cluster.env, capture_output=True, text=True)
    assert requeue.returncode == 0, requeue.stderr
    # Slurm holds a requeued job for 2 minutes (BeginTime); let it start again at once.
    wait_for(lambda: release(slurm_cluster, job), 300, f"requeued job {job} to be pending")  # a hang guard
    text, _ = proc.communicate(timeout=600)
    print(f"requeued to finished: {time.time() - t0:.1f} s")
    assert proc.returncode == 0, text
    assert "2 run now (2 ok)" in text
    env = json.loads((victim["dir"] / store.ENV).read_text())
    assert env["resumed_from_step"] >= FIRST_CHECKPOINT  # at least its last periodic checkpoint
    assert_same_runs(local_long, out)
