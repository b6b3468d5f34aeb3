"""What is wrong with a study's run directories: damage, and runs stored under an older run id.

``verify_run`` checks one finished run's files (each a regular file, never followed through a link or
opened when it is a fifo), ``id_check`` finds runs named by an older id rule (``largelr.identity``),
which ``rename_to_current_id`` renames. A finished run whose config hashes to its directory's name under
no rule was edited after it ran: that is damage (its metrics belong to another config), never renamed.
"""

from __future__ import annotations

import os
from pathlib import Path

from largelr import config as config_mod
from largelr import identity
from largelr.errors import UserError
from largelr.store.layout import (
    CONFIG,
    DONE,
    ENV,
    HISTORY,
    RESULT,
    STORE_FILES,
    WEIGHTS,
    load_weights,
    odd_entry,
    read_history,
    read_json,
    run_dirs,
)
from largelr.store.states import RunState, run_state

RESULT_STATUSES = ("ok", "diverged", "failed")  # what training can end as (largelr.train)


def verify_run(rd: Path, deep: bool = False) -> list[str]:
    """What is wrong with a run directory (empty list: nothing found).

    An entry that is not a real directory (a symbolic link, a file, a fifo) is damage whatever it holds.
    A run without DONE is unfinished, not damaged (the next sweep redoes it). A finished run needs
    every file the README lists, each a regular file: a valid ``config.json`` whose hash is the directory's
    name (under the current or an older id rule), ``env.json`` (a JSON object), ``result.json`` (a
    largelr result with a known status), a readable ``history.jsonl`` and ``model.pt``. ``deep`` also
    loads ``model.pt`` and checks its keys and shapes against the model the config builds.
    """
    odd = odd_entry(rd, "dir")
    if odd:
        return [f"the run directory {odd}"]
    if not (rd / DONE).is_file():
        return []
    problems: list[str] = []
    odd_files = {name: why for name in STORE_FILES if (why := odd_entry(rd / name, "file"))}
    problems += [f"{name} {why}" for name, why in odd_files.items()]
    cfg = None
    if CONFIG not in odd_files:
        if not (rd / CONFIG).is_file():
            problems.append(f"{CONFIG} is missing")
        else:
            try:
                cfg = config_mod.load_json(rd / CONFIG)
            except UserError as e:
                problems.append(f"{CONFIG} is corrupt ({_after_path(e, rd / CONFIG)})")
            else:
                problems += id_problem(rd, cfg)
    for name in (ENV, RESULT):
        if name in odd_files:
            continue
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
    if HISTORY not in odd_files:
        if not os.path.lexists(rd / HISTORY):
            problems.append(f"{HISTORY} is missing")
        else:
            try:
                read_history(rd)
            except UserError as e:
                problems.append(f"{HISTORY} is corrupt ({_reason(e)})")
    if WEIGHTS in odd_files:
        pass
    elif not (rd / WEIGHTS).is_file():
        problems.append(f"{WEIGHTS} is missing")
    elif deep:
        problems += weights_problems(rd, cfg)
    return problems


def weights_problems(rd: Path, cfg: config_mod.RunConfig | None) -> list[str]:
    """``model.pt`` loads (weights only) as a state dict whose keys and shapes are those of the model
    ``cfg`` builds (built on the meta device: no memory, no numbers)."""
    try:
        weights = load_weights(rd)
        if not isinstance(weights, dict):
            raise ValueError(f"holds a {type(weights).__name__}, not a state dict")
    except Exception as e:  # torch raises many types on a damaged archive
        first = (str(e).splitlines() or [""])[0][:100]
        return [f"{WEIGHTS} does not load ({type(e).__name__}: {first})"]
    if cfg is None:
        return []
    expected = expected_shapes(cfg)
    if expected is None:
        return []
    got = {k: tuple(getattr(v, "shape", ())) for k, v in weights.items()}
    if got == expected:
        return []
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
    parts = [f"missing {_few(missing)}" if missing else "", f"unexpected {_few(extra)}" if extra else ""]
    parts += [f"{k} has shape {list(got[k])}, the config's model {list(expected[k])}" for k in wrong[:2]]
    return [f"{WEIGHTS} does not fit the model the config builds: " + "; ".join(p for p in parts if p)]


_SHAPES: dict[str, dict[str, tuple[int, ...]] | None] = {}  # per model + data config, within one process


def expected_shapes(cfg: config_mod.RunConfig) -> dict[str, tuple[int, ...]] | None:
    """{parameter/buffer name: shape} of the model ``cfg`` builds, or None when it cannot be built here
    (e.g. a dataset whose files are absent): then only the loading is checked."""
    import json

    key = json.dumps([config_mod.to_dict(cfg)["model"], config_mod.to_dict(cfg)["data"], cfg.seeds.data])
    if key not in _SHAPES:
        import torch

        from largelr.data import build_dataset
        from largelr.models import build_model

        try:
            data = build_dataset(cfg.data, seed=cfg.seeds.data)
            with torch.device("meta"):
                model = build_model(cfg.model, data.input_shape, data.num_classes)
            _SHAPES[key] = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        except Exception:  # noqa: BLE001  (cannot build here: not damage of the run)
            _SHAPES[key] = None
    return _SHAPES[key]


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


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
# run ids written by older versions (a directory name is the run id of the version that wrote it)


def current_id(rd: Path) -> str:
    """The run id this version computes from the run's config.json (may differ from ``rd.name``)."""
    return config_mod.run_id(config_mod.load_json(rd / CONFIG))


def older_rule(rd: Path) -> str | None:
    """The older id rule (``largelr.identity.OLDER_RULES``) under which the run's stored config.json
    hashes to the directory's name, or None."""
    try:
        return identity.older_rule_matching(read_json(rd / CONFIG), rd.name)
    except UserError:
        return None


def id_problem(rd: Path, cfg: config_mod.RunConfig) -> list[str]:
    """[the problem] when ``cfg`` (the run's config.json) hashes to ``rd.name`` under no id rule."""
    rid = config_mod.run_id(cfg)
    if rid == rd.name or older_rule(rd) is not None:
        return []
    return [
        f"{CONFIG} hashes to {rid}, not to the directory name under this or any older id rule "
        "(edited after the run, or the directory was renamed): its results are not that config's"
    ]


def id_check(study: str | Path) -> tuple[dict[Path, str], dict[str, list[Path]]]:
    """(outdated, duplicates) of a study directory's runs.

    Returns:
        outdated: run directory -> its current id, for directories named by an older id rule (their
            stored config reproduces the name under that rule); a config that reproduces its name under
            no rule is damage (``verify_run``), not outdated.
        duplicates: current id -> the finished directories holding that same config (only ids with
            more than one), the one named by the current id first, then by name.
    """
    outdated: dict[Path, str] = {}
    by_id: dict[str, list[Path]] = {}
    for rd in run_dirs(study):
        if odd_entry(rd, "dir"):
            continue  # damage, never read through
        try:
            rid = current_id(rd)
        except UserError:  # a damaged config.json: reported by whatever reads the run (load_run)
            continue
        if rid != rd.name:
            if older_rule(rd) is None:
                continue  # edited or renamed: damage (verify_run) when finished, left in place
            outdated[rd] = rid
        if run_state(rd) is RunState.DONE:
            by_id.setdefault(rid, []).append(rd)
    dups = {rid: sorted(ds, key=lambda d: (d.name != rid, d.name)) for rid, ds in by_id.items() if len(ds) > 1}
    return outdated, dups


def rename_to_current_id(rd: Path) -> Path | None:
    """Rename a run directory stored under an older id rule to its current id (one atomic ``os.rename``);
    the new path, or None when an entry of that name already exists (a duplicate: nothing is moved or
    deleted) or when the stored config does not reproduce the directory's name under an older rule."""
    new = rd.parent / current_id(rd)
    if new == rd:
        return rd
    if os.path.lexists(new) or odd_entry(rd, "dir") or older_rule(rd) is None:
        return None
    os.rename(rd, new)
    return new
