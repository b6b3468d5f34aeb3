"""Export a results directory to experiment trackers (TensorBoard, MLflow), after the fact: nothing reruns.

The store stays the source of truth; an export is a rebuildable view of it. Every finished run becomes one
tracker run with a readable name (``lr=0.1 seed=0``, plus every other setting that varies in the study), its
config as hyperparameters (so runs filter and sort by the learning rate), its history at each evaluation step
and its end-of-run scalar metrics (comp_κ, pruning summaries, class separation, ...) at its last step.

An export is written into a fresh folder beside the destination and moved into place when complete, so an
interrupted export leaves nothing half-written; exporting again replaces a previous export (marked by
``MARKER``) and refuses any other existing folder.
"""

from __future__ import annotations

import datetime
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from largelr import config as config_mod
from largelr.errors import UserError
from largelr.extras import require

MARKER = ".largelr-export"
FORMATS = ("tensorboard", "mlflow")
# always hyperparameters (besides every config value that varies in the study): what one filters a sweep by
KEY_HPARAMS = ("optim.lr", "optim.name", "optim.momentum", "train.batch_size", "model.name", "data.name", "data.rho")


def default_out(study: str | Path, fmt: str) -> Path:
    """Where ``largelr export FMT STUDY`` writes without ``--out``: ``STUDY/_tensorboard`` or ``STUDY/_mlruns``.

    >>> default_out("runs/quickstart", "mlflow").as_posix()
    'runs/quickstart/_mlruns'
    """
    return Path(study) / {"tensorboard": "_tensorboard", "mlflow": "_mlruns"}[fmt]


def export(study: str | Path, fmt: str, out: str | Path | None = None) -> tuple[Path, int]:
    """Write every finished run of ``study`` to a ``fmt`` ("tensorboard" or "mlflow") log directory.

    Returns:
        (the output directory, the number of runs exported).

    Raises:
        UserError: unknown format, the tracker's package missing, no finished run, or ``out`` exists and is
            not a previous export.
    """
    from largelr.report.collect import finished_runs

    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    require(fmt, f"largelr export {fmt}")
    out = Path(out) if out is not None else default_out(study, fmt)
    _check_out(out)
    runs = finished_runs(study)
    if not runs:
        raise UserError(f"no finished runs in {study}; run `largelr sweep` or `largelr run` first")
    writer = {"tensorboard": _write_tensorboard, "mlflow": _write_mlflow}[fmt]
    _replace_dir(out, lambda tmp: writer(tmp, Path(study), runs))
    return out, len(runs)


# ---------------------------------------------------------------------------------------------
# what every tracker gets


def run_names(configs: dict[str, config_mod.RunConfig]) -> dict[str, str]:
    """``{run id: "lr=0.1 seed=0"}``; every other config value that varies across ``configs`` is appended
    (``rho=0.95``, ``model=cnn``), so the names are unique within a study."""
    flat = {rid: config_mod.flatten(c) for rid, c in configs.items()}
    varying = _varying(flat)
    last = [k.split(".")[-1] for k in varying]
    names = {}
    for rid, f in flat.items():
        seeds = (f["seeds.data"], f["seeds.init"], f["seeds.order"])
        seed = f"seed={seeds[0]}" if len(set(seeds)) == 1 else "seeds={}/{}/{}".format(*seeds)
        parts = [f"lr={f['optim.lr']:g}", seed]
        for key, short in zip(varying, last):
            label = key.split(".")[0] if short == "name" else (short if last.count(short) == 1 else key)
            parts.append(f"{label}={_text(f[key])}")
        names[rid] = " ".join(parts)
    return names


def hparams(cfg: config_mod.RunConfig, varying: list[str], result: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters of one run: the key ones, every varying config value, seeds, status, converged.

    Values are numbers, booleans or strings (what TensorBoard's hparams plugin and MLflow accept).
    """
    flat = config_mod.flatten(cfg)
    keys = [k for k in flat if k in KEY_HPARAMS or k in varying or k.startswith("seeds.")]
    out: dict[str, Any] = {k: _value(flat[k]) for k in keys}
    out["status"] = str(result.get("status"))
    out["converged"] = bool(result.get("converged", False))
    return out


def end_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The finite scalar metrics of ``result.json`` (lists, maps and curves are left out)."""
    from largelr.metrics.base import scalar_items

    return {k: v for k, v in scalar_items(result.get("metrics") or {}).items() if math.isfinite(v)}


def history_rows(rd: Path) -> list[tuple[int, dict[str, float]]]:
    """``[(step, {key: finite scalar})]`` of a run's history.jsonl."""
    from largelr import store
    from largelr.metrics.base import scalar_items

    rows = []
    for row in store.read_history(rd):
        values = {k: v for k, v in scalar_items(row).items() if k != "step" and math.isfinite(v)}
        rows.append((int(row.get("step", 0)), values))
    return rows


# ---------------------------------------------------------------------------------------------
# TensorBoard: one event-file folder per run, named by its readable name


def _write_tensorboard(out: Path, study: Path, runs: list[dict[str, Any]]) -> None:
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    names = run_names({r["run_id"]: r["config"] for r in runs})
    varying = _varying({r["run_id"]: config_mod.flatten(r["config"]) for r in runs})
    for r in runs:
        writer = SummaryWriter(log_dir=str(out / _safe(names[r["run_id"]])))
        try:
            for step, values in history_rows(r["dir"]):
                for key, value in values.items():
                    writer.add_scalar(key, value, step)
            final = end_metrics(r["result"])
            last = int(r["result"].get("steps") or 0)
            for key, value in final.items():
                writer.add_scalar(key, value, last)
            hp = hparams(r["config"], varying, r["result"])
            hp["run_id"] = r["run_id"]
            exp, ssi, sei = hparams_summary(hp, final)
            for summary in (exp, ssi, sei):
                writer.file_writer.add_summary(summary)
        finally:
            writer.close()


# ---------------------------------------------------------------------------------------------
# MLflow: a file store with one experiment (the study's folder name) and one run per finished run

MLFLOW_BATCH = 1000  # MLflow's limit of metrics per log_batch call (params: 100)


def _write_mlflow(out: Path, study: Path, runs: list[dict[str, Any]]) -> None:
    from mlflow.entities import Metric, Param, RunStatus, RunTag
    from mlflow.tracking import MlflowClient

    # MLflow 3 keeps its file store in maintenance mode behind this switch; it needs no server or database
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=out.resolve().as_uri())
    experiment = client.create_experiment(study.resolve().name or "largelr")
    names = run_names({r["run_id"]: r["config"] for r in runs})
    varying = _varying({r["run_id"]: config_mod.flatten(r["config"]) for r in runs})
    for r in runs:
        start, end = _millis(r["env"].get("start_time")), _millis(r["env"].get("end_time"))
        run = client.create_run(
            experiment,
            start_time=start,
            run_name=names[r["run_id"]],
            tags={"largelr.run_id": r["run_id"], "largelr.study": str(study)},
        )
        rid = run.info.run_id
        params = [Param(k, str(v)) for k, v in config_mod.flatten(r["config"]).items()]
        params += [Param(k, str(v)) for k, v in hparams(r["config"], varying, r["result"]).items() if "." not in k]
        for i in range(0, len(params), 100):
            client.log_batch(rid, params=params[i : i + 100])
        metrics = [Metric(k, v, start, step) for step, values in history_rows(r["dir"]) for k, v in values.items()]
        last = int(r["result"].get("steps") or 0)
        metrics += [Metric(k, v, max(end, start + 1), last) for k, v in end_metrics(r["result"]).items()]
        for i in range(0, len(metrics), MLFLOW_BATCH):
            client.log_batch(rid, metrics=metrics[i : i + MLFLOW_BATCH])
        client.log_batch(rid, tags=[RunTag("largelr.status", str(r["result"].get("status")))])
        status = "FINISHED" if r["result"].get("status") == "ok" else "FAILED"
        client.set_terminated(rid, status=RunStatus.to_string(RunStatus.from_string(status)), end_time=end)


# ---------------------------------------------------------------------------------------------
# helpers


def _varying(flat: dict[str, dict[str, Any]]) -> list[str]:
    """Config keys whose value differs between runs, besides the LR and the seeds."""
    keys = sorted({k for f in flat.values() for k in f})
    return [
        k
        for k in keys
        if k != "optim.lr" and not k.startswith("seeds.") and len({repr(f.get(k)) for f in flat.values()}) > 1
    ]


def _value(v: Any) -> Any:
    return v if isinstance(v, (bool, int, float, str)) else _text(v)


def _text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (tuple, list)):
        return ",".join(_text(x) for x in v)
    return str(v)


def _safe(name: str) -> str:
    """A run name as a folder name: no path separators."""
    return name.replace(os.sep, "_").replace(" ", ",")


def _millis(iso: Any) -> int:
    try:
        return int(datetime.datetime.fromisoformat(iso).timestamp() * 1000)
    except (TypeError, ValueError):
        return 0


def _check_out(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UserError(f"{out} exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UserError(f"{out} exists and is not a previous largelr export; choose another --out or remove it")


def _replace_dir(out: Path, write: Callable[[Path], None]) -> None:
    """Write into a fresh sibling folder, then move it into place (replacing a previous export)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        (tmp / MARKER).write_text("written by `largelr export`; exporting again replaces this folder\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
