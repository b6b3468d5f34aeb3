"""The results store: one self-describing directory per run, named by the run id.

    <study>/<run_id>/config.json    canonical config (written first)
                     env.json       provenance: versions, git commit/dirty, hardware, start/end time
                     history.jsonl  one row per evaluation
                     result.json    status, final metrics (curves included), wall times
                     model.pt       trained weights (a state dict; load with weights_only=True)
                     DONE           written last; its presence is what "finished" means
    <study>/reproduce.json          the study's note: which reproduce target/preset made it, wall time
                     LEASE          while a worker trains the run: host, pid, token; mtime = heartbeat
                     checkpoint.pt  training state to resume from (removed before DONE)
                     FAILED         traceback of a run that raised (the next sweep retries it)
                     tensorboard/   event files, with train.tensorboard=True
    <study>/_queue/<run_id>.json    the config handed to a remote worker (Slurm, Ray, pool)

Every file is written to a temporary name and renamed into place, so a reader never sees half a
file. A run directory without DONE is incomplete; only the worker holding its lease may clear or
write it (``claim``). Status comes only from the filesystem. Nobody else builds these paths.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from largelr import config as config_mod
from largelr.config import RunConfig
from largelr.errors import UserError
from largelr.store.entries import odd_entry
from largelr.store.leases import Lease

CONFIG, ENV, HISTORY, RESULT, WEIGHTS, DONE = (
    "config.json",
    "env.json",
    "history.jsonl",
    "result.json",
    "model.pt",
    "DONE",
)
LEASE, CHECKPOINT, FAILED, TENSORBOARD, QUEUE = "LEASE", "checkpoint.pt", "FAILED", "tensorboard", "_queue"


def run_dir(study: str | Path, cfg: RunConfig) -> Path:
    return Path(study) / config_mod.run_id(cfg)


def check_run_dir(rd: Path) -> None:
    """Raise UserError unless ``rd`` is a real directory or absent: a run directory that is a link (which
    could point out of the store), a file or a fifo is damage, reported and never written through."""
    odd = odd_entry(rd, "dir")
    if odd:
        raise UserError(
            f"run directory {rd} {odd}: damaged; nothing was written through it "
            f"(`largelr repair {rd.parent}` removes the entry, never what a link points to)"
        )


def sanitize(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats become null (standard JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v) for v in obj]
    return obj


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600 files; results are for everyone
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(sanitize(obj), indent=2, sort_keys=True) + "\n")


def begin(
    rd: Path, cfg: RunConfig, env: dict[str, Any], lease: Lease | None = None, *, keep_checkpoint: bool = False
) -> None:
    """Start a run under ``lease`` (None: a store nobody else writes): clear what an earlier attempt left
    (but the lease and, when resuming, the checkpoint), then write config.json and env.json."""
    check_run_dir(rd)
    if (rd / DONE).is_file():
        raise RuntimeError(f"{rd} is already done")
    rd.mkdir(parents=True, exist_ok=True)
    if lease is not None and not lease.held():
        raise RuntimeError(f"{rd}: lease lost to another worker; not clearing its directory")
    keep = {LEASE, CHECKPOINT} if keep_checkpoint else {LEASE}
    for p in rd.iterdir():
        if p.name not in keep:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    atomic_write(rd / CONFIG, config_mod.to_json(cfg, indent=2) + "\n")
    write_json(rd / ENV, env)


def write_history(rd: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write(rd / HISTORY, "".join(json.dumps(sanitize(r), sort_keys=True) + "\n" for r in rows))


def append_history(rd: Path, row: dict[str, Any]) -> None:
    with open(rd / HISTORY, "a") as f:
        f.write(json.dumps(sanitize(row), sort_keys=True) + "\n")


def save_weights(rd: Path, state_dict: dict[str, Any]) -> None:
    import io

    import torch

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
    atomic_write(rd / WEIGHTS, buf.getvalue())


def finalize(rd: Path, result: dict[str, Any], env_updates: dict[str, Any]) -> None:
    """Write result.json, add end time etc. to env.json, drop the checkpoint, then DONE (last). A run with
    no evaluation row gets an empty history.jsonl: a finished run holds every file in STORE_FILES."""
    write_json(rd / RESULT, result)
    if not os.path.lexists(rd / HISTORY):
        atomic_write(rd / HISTORY, "")
    env = read_json(rd / ENV)
    write_json(rd / ENV, {**env, **env_updates})
    (rd / CHECKPOINT).unlink(missing_ok=True)
    (rd / FAILED).unlink(missing_ok=True)
    atomic_write(rd / DONE, "")


def read_bytes(path: Path) -> bytes:
    """The bytes of a store file; UserError when it is missing, not a regular file (a link, directory or
    fifo: never followed or opened) or unreadable."""
    odd = odd_entry(path, "file")
    if odd:
        raise UserError(f"{path}: {odd} (the run directory is damaged; `largelr repair` removes it)")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file is missing (the run directory is damaged; delete it to redo the run)") from None
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({e.strerror})") from None


def read_json(path: Path) -> Any:
    """Read a JSON file; a missing, unreadable or corrupt file is a UserError naming the file."""
    data = read_bytes(path)
    try:
        return json.loads(data.decode())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: corrupt JSON ({e}); delete the run directory to redo the run") from None
    except RecursionError:
        raise UserError(f"{path}: corrupt JSON (nested too deeply); delete the run directory to redo the run") from None


def read_history(rd: Path) -> list[dict[str, Any]]:
    path = rd / HISTORY
    if not os.path.lexists(path):
        return []
    try:
        text = read_bytes(path).decode()
    except UnicodeDecodeError:
        raise UserError(f"{path}: corrupt (not UTF-8 text)") from None
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{i}: corrupt JSON line ({e.msg})") from None
        except RecursionError:
            raise UserError(f"{path}:{i}: corrupt JSON line (nested too deeply)") from None
        if not isinstance(row, dict):  # found by the fuzzer: a line "0" is valid JSON but not a row
            raise UserError(f"{path}:{i}: corrupt line (a JSON object expected, got {type(row).__name__})")
        rows.append(row)
    return rows


def load_weights(rd: Path) -> dict[str, Any]:
    import torch

    odd = odd_entry(rd / WEIGHTS, "file")
    if odd:
        raise UserError(f"{rd / WEIGHTS}: {odd}")
    return torch.load(rd / WEIGHTS, map_location="cpu", weights_only=True)


NOTE = "reproduce.json"


def write_note(study: str | Path, note: dict[str, Any]) -> None:
    """Record facts about a whole study (e.g. the reproduce target, preset and wall time), atomically."""
    Path(study).mkdir(parents=True, exist_ok=True)
    write_json(Path(study) / NOTE, note)


def read_note(study: str | Path) -> dict[str, Any]:
    """The study's note, or {} when it has none."""
    path = Path(study) / NOTE
    return read_json(path) if path.is_file() else {}


STORE_FILES = (CONFIG, ENV, HISTORY, RESULT, WEIGHTS, DONE)  # what a finished run holds
RUN_MARKS = (*STORE_FILES, LEASE, CHECKPOINT, FAILED)  # any of them makes a directory a run's


def looks_like_run_id(name: str) -> bool:
    """Whether ``name`` has the shape of a run id (16 lowercase hex digits), as every run directory does."""
    return len(name) == 16 and all(c in "0123456789abcdef" for c in name)


def run_dirs(study: str | Path) -> list[Path]:
    """All run directories (finished, unfinished, claimed, failed or damaged) of a study, sorted by name.

    A run directory is a real directory holding any entry a run writes (``report/``, ``_logs/`` and
    ``_queue/`` hold none). An entry named like a run id that is not a real directory (a symbolic link,
    a file, a fifo), and a link to a directory holding run files, are listed too: they are damage
    (``store.status`` says "damaged"), listed so that status, report and repair name them.
    """
    study = Path(study)
    if not study.is_dir():
        raise UserError(f"results directory not found: {study}")
    try:
        entries = list(study.iterdir())
    except OSError as e:
        raise UserError(f"results directory {study} cannot be read ({e.strerror})") from None
    out = []
    for p in entries:
        if odd_entry(p, "dir") is None:
            if any(os.path.lexists(p / f) for f in RUN_MARKS):
                out.append(p)
        elif looks_like_run_id(p.name) or (p.is_symlink() and _has_marks(p)):
            out.append(p)
    return sorted(out)


def _has_marks(p: Path) -> bool:
    try:
        return p.is_dir() and any(os.path.lexists(p / f) for f in RUN_MARKS)
    except OSError:
        return False


def remove_run(rd: Path) -> None:
    """Delete a run's entry from its study (``largelr repair``): a link, file or fifo is unlinked (never
    what a link points to); a real directory is removed with what it holds (``shutil.rmtree`` unlinks
    links inside it without following them)."""
    if odd_entry(rd, "dir"):
        os.unlink(rd)
    elif os.path.lexists(rd):
        shutil.rmtree(rd)


def require_study(study: str | Path) -> list[Path]:
    """The run directories of ``study``; UserError when it is missing, unreadable or holds no run (a
    directory that is not a results directory: status and repair refuse it rather than report "0 runs")."""
    dirs = run_dirs(study)
    if not dirs:
        raise UserError(
            f"{study} is not a results directory: it holds no run directories (a sweep or `largelr run --out` "
            "writes them: DIR/<run id>/config.json, ...)"
        )
    return dirs


def load_run(rd: Path) -> dict[str, Any]:
    """{"run_id", "dir", "config" (RunConfig), "result", "env"} of a finished run; UserError if damaged."""
    try:
        cfg = config_mod.load_json(rd / CONFIG)
    except UserError as e:
        raise UserError(f"{rd / CONFIG}: {e}") from None
    result = read_json(rd / RESULT)
    if not isinstance(result, dict) or "status" not in result or not isinstance(result.get("metrics"), dict):
        raise UserError(
            f"{rd / RESULT}: not a largelr result (needs 'status' and 'metrics'); delete the run directory to redo it"
        )
    return {"run_id": rd.name, "dir": rd, "config": cfg, "result": result, "env": read_json(rd / ENV)}


# ---------------------------------------------------------------------------------------------
# checks before writing, and of what was written


def check_writable(path: str | Path, what: str = "output directory") -> None:
    """Raise UserError unless ``path`` is, or can be created as, a directory this process can write.

    Walks up to the nearest existing ancestor: it must be a directory (not a file) and writable.
    Call it before any expensive work so a bad ``--out`` fails first, with nothing written.
    """
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            raise UserError(f"{what} {path}: {probe} is a broken symbolic link")
        probe = probe.parent
    if not probe.is_dir():
        where = "is" if probe == path else f"is under {probe}, which is"
        raise UserError(f"{what} {path} {where} a file, not a directory; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path}: {probe} is not writable (permission denied or read-only filesystem)")


# ---------------------------------------------------------------------------------------------
# checkpoints, failures, queued configs


def save_checkpoint(rd: Path, state: dict[str, Any]) -> None:
    import io

    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(rd / CHECKPOINT, buf.getvalue())


def load_checkpoint(rd: Path) -> dict[str, Any] | None:
    """The saved training state, or None (no checkpoint, or an unreadable one: the run starts over)."""
    import torch

    if not (rd / CHECKPOINT).is_file() or odd_entry(rd / CHECKPOINT, "file"):  # a link is never followed
        return None
    try:
        return torch.load(rd / CHECKPOINT, map_location="cpu", weights_only=True)
    except Exception:  # a checkpoint from another torch version or a damaged one: start from scratch
        return None


def record_failure(rd: Path, text: str) -> None:
    """Keep the traceback of a run that raised (the directory stays without DONE)."""
    if odd_entry(rd, "dir") is None and rd.is_dir():
        with contextlib.suppress(OSError):  # a full disk: the run stays incomplete without its traceback
            atomic_write(rd / FAILED, text)


def queue_config(study: Path, cfg: RunConfig) -> Path:
    """Write ``cfg`` where a worker on any node that sees the store can read it; return the path."""
    (study / QUEUE).mkdir(parents=True, exist_ok=True)
    path = study / QUEUE / f"{config_mod.run_id(cfg)}.json"
    atomic_write(path, config_mod.to_json(cfg))
    return path


def tensorboard_dir(rd: Path) -> Path:
    return rd / TENSORBOARD
