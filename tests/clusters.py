"""Real Ray and Slurm clusters on this machine for the scale-out tests (loopback only, as root).

Each is started in its own session under a temporary directory, on free ports, and stopped by
killing that session's process group, so clusters of other users of the machine are never touched.
``start_*`` raise ``Unavailable`` with the reason when the component cannot be started here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


class Unavailable(Exception):
    """The component cannot be started here (the message says why)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group of ``proc`` (started with start_new_session=True), then SIGKILL to
    whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@dataclass
class Ray:
    address: str
    proc: subprocess.Popen
    tmp: Path

    def stop(self) -> None:
        stop_group(self.proc)


def start_ray(tmp: Path, num_cpus: int = 2) -> Ray:
    """``ray start --head --block`` on 127.0.0.1 with ``num_cpus`` CPUs and no dashboard."""
    ray_bin = Path(sys.executable).parent / "ray"
    if not ray_bin.exists():
        raise Unavailable(f"ray is not installed next to {sys.executable} (pip install 'largelr[ray]')")
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(ray_bin), "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1",
        "--num-cpus", str(num_cpus), "--include-dashboard=false", "--disable-usage-stats",
        "--temp-dir", str(tmp / "r"),  # short: Ray's socket paths must stay under 107 characters
        "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
        "--min-worker-port", "0", "--max-worker-port", "0", "--ray-client-server-port", str(free_port()),
    ]  # fmt: skip
    log = open(tmp / "ray-start.log", "w")  # noqa: SIM115
    # Loopback only, one user: no token authentication (another cluster on this machine may have left a
    # token behind in ~/.ray that this head and its clients would then disagree on).
    os.environ["RAY_AUTH_MODE"] = "disabled"
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"ray start exited {proc.returncode}: {(tmp / 'ray-start.log').read_text()[-500:]}")
        if "Ray runtime started" in (tmp / "ray-start.log").read_text():
            return Ray(f"127.0.0.1:{port}", proc, tmp)
        time.sleep(0.5)
    stop_group(proc)
    raise Unavailable("ray start did not come up within 120 s")


@dataclass
class Slurm:
    conf: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop_group(proc)


SLURM_CONF = """\
ClusterName=largelr{port}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={port}
SlurmdPort={dport}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CryptoType=crypto/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=30
SlurmdTimeout=30
InactiveLimit=0
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def start_slurm(tmp: Path, cpus: int = 2) -> Slurm:
    """munged + slurmctld + slurmd from a minimal slurm.conf whose one node is this host."""
    need = ["munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scontrol", "squeue"]
    missing = [b for b in need if not shutil.which(b) and not Path("/usr/sbin", b).exists()]
    if missing:
        raise Unavailable(f"Slurm/munge binaries missing: {', '.join(missing)} (apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        raise Unavailable("a single-node Slurm cluster is started as root (SlurmUser=root); not root here")
    tmp.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool", "munge"):
        (tmp / sub).mkdir(exist_ok=True)
    os.chmod(tmp / "munge", 0o700)
    key = tmp / "munge" / "munge.key"
    key.write_bytes(os.urandom(128))
    os.chmod(key, 0o400)
    munge_socket = tmp / "munge" / "munge.socket"
    host = socket.gethostname().split(".")[0]
    conf = tmp / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(port=free_port(), dport=free_port(), host=host, d=tmp, munge_socket=munge_socket, cpus=cpus)
    )
    cluster = Slurm(conf)
    munged = shutil.which("munged") or "/usr/sbin/munged"
    m = tmp / "munge"
    cluster.procs.append(
        subprocess.Popen(
            [
                munged,
                "-F",
                "-f",
                f"--key-file={key}",
                f"--socket={munge_socket}",
                f"--pid-file={m}/munged.pid",
                f"--log-file={m}/munged.log",
                f"--seed-file={m}/munged.seed",
            ],  # fmt: skip
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    try:
        _wait(lambda: munge_socket.exists(), 20, "munged did not create its socket", cluster)
        for daemon in ("slurmctld", "slurmd"):
            binary = shutil.which(daemon) or f"/usr/sbin/{daemon}"
            cluster.procs.append(
                subprocess.Popen(
                    [binary, "-D", "-f", str(conf)] + (["-i"] if daemon == "slurmctld" else []),
                    env=cluster.env, start_new_session=True,
                    stdout=open(tmp / f"{daemon}.out", "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
                )
            )  # fmt: skip

        def idle() -> bool:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=cluster.env, capture_output=True, text=True)
            return out.stdout.strip() == "idle"

        _wait(idle, 60, "the Slurm node did not become idle", cluster)
    except Unavailable:
        cluster.stop()
        raise
    return cluster


def _wait(cond, timeout: float, what: str, cluster: Slurm) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        dead = [p for p in cluster.procs if p.poll() is not None]
        if dead:
            raise Unavailable(f"{what}: {dead[0].args[0]} exited {dead[0].returncode}")
        time.sleep(0.3)
    raise Unavailable(f"{what} within {timeout:.0f} s")
