"""Runs on disk -> pandas DataFrames. The only place the report reads the store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from largelr import config as config_mod
from largelr import store
from largelr.errors import UserError
from largelr.metrics import scalar_items
from largelr.report.keys import LR

log = logging.getLogger(__name__)


def _finished(study: str | Path) -> tuple[list[dict[str, Any]], int, dict[str, list[str]]]:
    """(finished runs, number of unfinished runs, {damaged run id: problems}).

    Damaged runs (``store.verify_run``) are skipped; of several healthy copies of one config, one is kept.
    """
    dirs = store.run_dirs(study)
    damaged = {d.name: p for d in dirs if (p := store.verify_run(d))}
    _, dups = store.id_check(study)
    extra = set()  # one copy per config: the current id's, else the first
    for ds in dups.values():
        ds = [d for d in ds if d.name not in damaged]
        if len(ds) < 2:
            continue
        extra |= set(ds[1:])
        log.warning(
            "%s: the same config is stored %d times (%s); using %s only (`largelr status %s` lists them)",
            study,
            len(ds),
            ", ".join(d.name for d in ds),
            ds[0].name,
            study,
        )
    done = [
        store.load_run(d) for d in dirs if store.run_state(d) == "done" and d not in extra and d.name not in damaged
    ]
    return done, sum(store.run_state(d) not in ("done", "damaged") for d in dirs), damaged


def finished_runs(study: str | Path) -> list[dict[str, Any]]:
    """The finished, undamaged runs of ``study`` as ``store.load_run`` gives them (one copy per config)."""
    return _finished(study)[0]


def describe_damaged(damaged: dict[str, list[str]]) -> str:
    """``"<id> (problem; problem), <id> (...)"`` for messages."""
    return ", ".join(f"{rid} ({'; '.join(p)})" for rid, p in damaged.items())


def load_results(study: str | Path) -> pd.DataFrame:
    """One row per finished run: run_id, status, converged, steps, ``cfg.*`` config columns, scalar metrics.

    ``df.attrs`` holds ``incomplete`` (runs started but not finished), ``damaged`` ({run id:
    problems} of finished runs ``store.verify_run`` rejects; they are left out) and ``commits``
    (git commits that produced the runs).

    >>> df = load_results("runs/quickstart")  # doctest: +SKIP
    >>> df.groupby("cfg.optim.lr")["test/acc_bc"].mean()  # doctest: +SKIP
    """
    runs, incomplete, damaged = _finished(study)
    if not runs:
        bad = f", {len(damaged)} damaged: {describe_damaged(damaged)}; see `largelr repair`" if damaged else ""
        raise UserError(
            f"no finished runs in {study} ({incomplete} incomplete{bad}); run `largelr sweep` or `largelr run` first"
        )
    rows = []
    for r in runs:
        res = r["result"]
        row: dict[str, Any] = {
            "run_id": r["run_id"],
            "status": res["status"],
            "converged": bool(res.get("converged", False)),
            "steps": res.get("steps"),
            "seconds": (res.get("seconds") or {}).get("total"),
            "commit": (r["env"].get("git") or {}).get("commit"),
            "dirty": (r["env"].get("git") or {}).get("dirty"),
            "host": r["env"].get("hostname"),
        }
        row.update({f"cfg.{k}": v for k, v in config_mod.flatten(r["config"]).items()})
        row.update(scalar_items({k: v for k, v in res["metrics"].items() if v is not None}))
        rows.append(row)
    df = pd.DataFrame(rows).sort_values([LR, "cfg.seeds.init", "run_id"]).reset_index(drop=True)
    df.attrs["incomplete"] = incomplete
    df.attrs["damaged"] = damaged
    df.attrs["commits"] = sorted({c for c in df["commit"] if isinstance(c, str)})
    return df


CURVES = ("prune", "prune_layer", "prune_struct")


def load_curves(study: str | Path, kinds: tuple[str, ...] = CURVES) -> pd.DataFrame:
    """Long table of pruning curves: run_id, lr, seed, curve kind, sparsity, acc, worst_group_acc, ...

    For the structured curve ``sparsity`` is the fraction of hidden units removed (its ``level``).
    """
    runs, _, _ = _finished(study)
    rows = []
    for r in runs:
        cfg = r["config"]
        for kind in kinds:
            for point in r["result"]["metrics"].get(f"test/{kind}") or []:
                rows.append(
                    {
                        "run_id": r["run_id"],
                        "status": r["result"]["status"],
                        "lr": cfg.optim.lr,
                        "seed": cfg.seeds.init,
                        "curve": kind,
                        **point,
                    }
                )
    return pd.DataFrame(rows)


def load_attribution_maps(study: str | Path) -> pd.DataFrame:
    """One row per ok run that has an attribution heat-map: run_id, lr, seed, data_seed, converged, map, mask and
    images (the test indices the map averages over; None in runs that predate recording them)."""
    runs, _, _ = _finished(study)
    rows = []
    for r in runs:
        m = r["result"]["metrics"]
        if r["result"]["status"] == "ok" and m.get("test/attr_map"):
            rows.append(
                {
                    "run_id": r["run_id"],
                    "lr": r["config"].optim.lr,
                    "seed": r["config"].seeds.init,
                    "data_seed": r["config"].seeds.data,
                    "converged": r["result"].get("converged", False),
                    "map": m["test/attr_map"],
                    "mask": m.get("test/attr_mask"),
                    "images": m.get("test/attr_map_index"),
                }
            )
    return pd.DataFrame(rows)


def load_histories(study: str | Path) -> pd.DataFrame:
    """Long table of every history row: run_id, lr, seed, status, step, metrics..."""
    runs, _, _ = _finished(study)
    rows = []
    for r in runs:
        for h in store.read_history(r["dir"]):
            rows.append(
                {
                    "run_id": r["run_id"],
                    "lr": r["config"].optim.lr,
                    "seed": r["config"].seeds.init,
                    "status": r["result"]["status"],
                    **h,
                }
            )
    return pd.DataFrame(rows)


def load_environments(study: str | Path) -> pd.DataFrame:
    """One row per finished run: run_id, status, converged, lr, start/end times, versions, hardware, host, git."""
    runs, _, _ = _finished(study)
    rows = []
    for r in runs:
        env, hw = r["env"], r["env"].get("hardware") or {}
        rows.append(
            {
                "run_id": r["run_id"],
                "status": r["result"]["status"],
                "converged": bool(r["result"].get("converged", False)),
                "lr": r["config"].optim.lr,
                "start_time": env.get("start_time"),
                "end_time": env.get("end_time"),
                "python": env.get("python"),
                "torch": (env.get("versions") or {}).get("torch"),
                "largelr": (env.get("versions") or {}).get("largelr"),
                "device": hw.get("device"),
                "cpu": hw.get("cpu"),
                "cpu_count": hw.get("cpu_count"),
                "gpu": hw.get("gpu"),
                "host": env.get("hostname"),
                "commit": (env.get("git") or {}).get("commit"),
                "dirty": (env.get("git") or {}).get("dirty"),
            }
        )
    return pd.DataFrame(rows)
