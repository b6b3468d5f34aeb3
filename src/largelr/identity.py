"""Run ids written by older versions of largelr, as pure functions of a stored ``config.json``.

A run directory is named by the run id of the version that wrote it. The current rule is
``largelr.config.run_id``; every earlier rule is kept here, so ``largelr status --fix-ids`` renames a
directory only when its stored config reproduces the directory's name under one of them. A config that
reproduces its name under no rule was edited after the run (or the directory was renamed): that is
damage, never a rename, since the metrics beside it belong to another config.

Each rule takes the ``config.json`` object exactly as stored (older versions wrote fewer fields, so the
rule must hash what is on disk, not a config rebuilt with today's defaults). No torch import.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any


def id_v1(stored: dict[str, Any]) -> str:
    """The rule up to 2026-11-29 (commit 3c2636e): sha256 of the whole config as written, minus
    ``train.device``, as compact sorted JSON; the first 16 hex digits.

    >>> id_v1({"optim": {"lr": 0.1}, "train": {"device": "cuda", "steps": 5}})
    'b0eedbb2c1a78c33'
    >>> id_v1({"optim": {"lr": 0.1}, "train": {"device": "cpu", "steps": 5}})
    'b0eedbb2c1a78c33'
    """
    d = json.loads(json.dumps(stored))  # a private deep copy
    if isinstance(d.get("train"), dict):
        d["train"].pop("device", None)
    text = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# name -> rule, oldest first; a rule retired by a new ``config.run_id`` is added here with its date.
# Deliberately absent: the rule before 2026-12-02 (issue 19), under which a BC-weighted run's id did not name
# ``train.bc_weight_norm``. Such a run was trained with the unnormalised loss, and its stored config.json (which
# has no such field) now reads as normalised: renaming it would give it another experiment's identity, so it
# stays an outdated id (damage, redone by the next sweep after `largelr repair`). Unweighted runs are unchanged.
OLDER_RULES: dict[str, Callable[[dict[str, Any]], str]] = {"v1": id_v1}


def older_rule_matching(stored: Any, name: str) -> str | None:
    """The name of the older id rule under which ``stored`` (a config.json object) hashes to ``name``,
    or None when no older rule reproduces it.

    >>> older_rule_matching({"optim": {"lr": 0.1}, "train": {"steps": 5}}, "b0eedbb2c1a78c33")
    'v1'
    >>> older_rule_matching({"optim": {"lr": 0.2}, "train": {"steps": 5}}, "b0eedbb2c1a78c33") is None
    True
    """
    if not isinstance(stored, dict):
        return None
    for rule, fn in OLDER_RULES.items():
        try:
            if fn(stored) == name:
                return rule
        except (TypeError, ValueError):  # a stored object no rule can hash
            continue
    return None
