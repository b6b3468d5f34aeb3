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

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from largelr import config as config_mod
from largelr.config import RunConfig
from largelr.errors import UserError

if TYPE_CHECKING:
    from largelr.leases import Lease

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


def status(rd: Path) -> str:
    """ "missing" (never started), "incomplete" (started, not finished or interrupted) or "done"."""
    if (rd / DONE).is_file():
        return "done"
    return "incomplete" if rd.exists() else "missing"


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
    if status(rd) == "done":
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
    """Write result.json, add end time etc. to env.json, drop the checkpoint, then DONE (last)."""
    write_json(rd / RESULT, result)
    env = read_json(rd / ENV)
    write_json(rd / ENV, {**env, **env_updates})
    (rd / CHECKPOINT).unlink(missing_ok=True)
    (rd / FAILED).unlink(missing_ok=True)
    atomic_write(rd / DONE, "")


def read_json(path: Path) -> Any:
    """Read a JSON file; a missing or corrupt file is a UserError naming the file."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: file is missing (the run directory is damaged; delete it to redo the run)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: corrupt JSON ({e}); delete the run directory to redo the run") from None


def read_history(rd: Path) -> list[dict[str, Any]]:
    path = rd / HISTORY
    if not path.is_file():
        return []
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise UserError(f"{path}: corrupt (not UTF-8 text)") from None
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{i}: corrupt JSON line ({e.msg})") from None
        if not isinstance(row, dict):  # found by the fuzzer: a line "0" is valid JSON but not a row
            raise UserError(f"{path}:{i}: corrupt line (a JSON object expected, got {type(row).__name__})")
        rows.append(row)
    return rows


def load_weights(rd: Path) -> dict[str, Any]:
    import torch

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


def run_dirs(study: str | Path) -> list[Path]:
    """All run directories (finished, unfinished, claimed, failed or damaged) of a study, sorted by name.

    A run directory is one holding any file a run writes (``report/``, ``_logs/`` and ``_queue/`` hold none).
    """
    study = Path(study)
    if not study.is_dir():
        raise UserError(f"results directory not found: {study}")
    return sorted(p for p in study.iterdir() if p.is_dir() and any((p / f).is_file() for f in RUN_MARKS))


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

RESULT_STATUSES = ("ok", "diverged", "failed")  # what training can end as (largelr.train)


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


def verify_run(rd: Path, deep: bool = False) -> list[str]:
    """What is wrong with a finished run directory (empty list: nothing found).

    A run without DONE is unfinished, not damaged (the next sweep redoes it). A finished run needs
    a valid ``config.json``, ``env.json`` (a JSON object), ``result.json`` (a largelr result with a
    known status), a readable ``history.jsonl`` if present, and ``model.pt``. ``deep`` also loads
    ``model.pt``. A config whose hash (``config.run_id``) is not the directory's name is not damage
    but a run stored under an older id rule: ``id_check`` finds those, ``largelr status --fix-ids``
    renames them.
    """
    if not (rd / DONE).is_file():
        return []
    problems: list[str] = []
    if not (rd / CONFIG).is_file():
        problems.append(f"{CONFIG} is missing")
    else:
        try:
            config_mod.load_json(rd / CONFIG)
        except UserError as e:
            problems.append(f"{CONFIG} is corrupt ({_after_path(e, rd / CONFIG)})")
    for name in (ENV, RESULT):
        try:
            obj = read_json(rd / name)
        except UserError as e:
            problems.append(f"{name} is missing" if not (rd / name).is_file() else f"{name} is corrupt ({_reason(e)})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{name} is not a JSON object")
        elif name == RESULT:
            if not isinstance(obj.get("metrics"), dict):
                problems.append(f"{RESULT} has no 'metrics' object")
            if obj.get("status") not in RESULT_STATUSES:
                known = ", ".join(RESULT_STATUSES)
                problems.append(f"{RESULT} has unknown status {obj.get('status')!r} (known: {known})")
    try:
        read_history(rd)
    except UserError as e:
        problems.append(f"{HISTORY} is corrupt ({_reason(e)})")
    if not (rd / WEIGHTS).is_file():
        problems.append(f"{WEIGHTS} is missing")
    elif deep:
        try:
            weights = load_weights(rd)
            if not isinstance(weights, dict):
                raise ValueError(f"holds a {type(weights).__name__}, not a state dict")
        except Exception as e:  # torch raises many types on a damaged archive
            first = (str(e).splitlines() or [""])[0][:100]
            problems.append(f"{WEIGHTS} does not load ({type(e).__name__}: {first})")
    return problems


def _reason(e: Exception) -> str:
    return str(e).split(": ", 1)[-1][:120]


def _after_path(e: Exception, path: Path) -> str:
    return str(e).replace(f"{path}: ", "")[:160]


def damaged_runs(study: str | Path, deep: bool = False) -> dict[Path, list[str]]:
    """{run directory: problems} for every damaged run of ``study``."""
    out = {}
    for rd in run_dirs(study):
        problems = verify_run(rd, deep=deep)
        if problems:
            out[rd] = problems
    return out


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

    if not (rd / CHECKPOINT).is_file():
        return None
    try:
        return torch.load(rd / CHECKPOINT, map_location="cpu", weights_only=True)
    except Exception:  # a checkpoint from another torch version or a damaged one: start from scratch
        return None


def record_failure(rd: Path, text: str) -> None:
    """Keep the traceback of a run that raised (the directory stays without DONE)."""
    if rd.is_dir():
        atomic_write(rd / FAILED, text)


def queue_config(study: Path, cfg: RunConfig) -> Path:
    """Write ``cfg`` where a worker on any node that sees the store can read it; return the path."""
    (study / QUEUE).mkdir(parents=True, exist_ok=True)
    path = study / QUEUE / f"{config_mod.run_id(cfg)}.json"
    atomic_write(path, config_mod.to_json(cfg))
    return path


def tensorboard_dir(rd: Path) -> Path:
    return rd / TENSORBOARD


# ---------------------------------------------------------------------------------------------
# run ids written by older versions (a directory name is the run id of the version that wrote it)


def current_id(rd: Path) -> str:
    """The run id this version computes from the run's config.json (may differ from ``rd.name``)."""
    return config_mod.run_id(config_mod.load_json(rd / CONFIG))


def id_check(study: str | Path) -> tuple[dict[Path, str], dict[str, list[Path]]]:
    """(outdated, duplicates) of a study directory's runs.

    Returns:
        outdated: run directory -> its current id, for directories named by an older id rule.
        duplicates: current id -> the finished directories holding that same config (only ids with
            more than one), the one named by the current id first, then by name.
    """
    outdated: dict[Path, str] = {}
    by_id: dict[str, list[Path]] = {}
    for rd in run_dirs(study):
        try:
            rid = current_id(rd)
        except UserError:  # a damaged config.json: reported by whatever reads the run (load_run)
            continue
        if rid != rd.name:
            outdated[rd] = rid
        if status(rd) == "done":
            by_id.setdefault(rid, []).append(rd)
    dups = {rid: sorted(ds, key=lambda d: (d.name != rid, d.name)) for rid, ds in by_id.items() if len(ds) > 1}
    return outdated, dups


def rename_to_current_id(rd: Path) -> Path | None:
    """Rename a run directory to its current id (one atomic ``os.rename``); the new path, or None when
    a directory of that name already exists (a duplicate: nothing is moved or deleted)."""
    new = rd.parent / current_id(rd)
    if new == rd:
        return rd
    if new.exists():
        return None
    os.rename(rd, new)
    return new
