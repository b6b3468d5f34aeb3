"""The results store: one self-describing directory per run, named by the run id.

    <study>/<run_id>/config.json    canonical config (written first)
                     env.json       provenance: versions, git commit/dirty, hardware, start/end time
                     history.jsonl  one row per evaluation
                     result.json    status, final metrics (curves included), wall times
                     model.pt       trained weights (a state dict; load with weights_only=True)
                     DONE           written last; its presence is what "finished" means
    <study>/reproduce.json          the study's note: which reproduce target/preset made it, wall time

Every file is written to a temporary name and renamed into place, so a reader never sees half a
file. A run directory without DONE is incomplete and is cleared before the run is redone. Status
comes only from the filesystem. Nobody else builds these paths.
"""

from __future__ import annotations

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

CONFIG, ENV, HISTORY, RESULT, WEIGHTS, DONE = (
    "config.json",
    "env.json",
    "history.jsonl",
    "result.json",
    "model.pt",
    "DONE",
)


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


def begin(rd: Path, cfg: RunConfig, env: dict[str, Any]) -> None:
    """Start a run: clear an incomplete directory, then write config.json and env.json."""
    if status(rd) == "done":
        raise RuntimeError(f"{rd} is already done")
    if rd.exists():
        shutil.rmtree(rd)
    rd.mkdir(parents=True)
    atomic_write(rd / CONFIG, config_mod.to_json(cfg, indent=2) + "\n")
    write_json(rd / ENV, env)


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
    """Write result.json, add end time etc. to env.json, then DONE (last)."""
    write_json(rd / RESULT, result)
    env = read_json(rd / ENV)
    write_json(rd / ENV, {**env, **env_updates})
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
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{i}: corrupt JSON line ({e.msg})") from None
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


def run_dirs(study: str | Path) -> list[Path]:
    """All run directories (finished or not) in a study directory, sorted by name."""
    study = Path(study)
    if not study.is_dir():
        raise UserError(f"results directory not found: {study}")
    return sorted(p for p in study.iterdir() if p.is_dir() and (p / CONFIG).is_file())


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
