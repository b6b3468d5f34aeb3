"""What several commands share: ``--set`` overrides, reading a config, checking ``--out``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from largelr import config as config_mod
from largelr.errors import UserError


def set_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.lr=0.05 --set model.kwargs.width=512 (repeatable)",
    )


def resolve_config(path: str | None, overrides: list[str]) -> config_mod.RunConfig:
    if path == "-":
        try:
            cfg = config_mod.from_dict(json.loads(sys.stdin.read()), where="<stdin>")
        except json.JSONDecodeError as e:
            raise UserError(f"<stdin>: not valid JSON ({e.msg})") from None
        except RecursionError:
            raise UserError("<stdin>: not a config (JSON nested too deeply)") from None
    elif path:
        cfg = config_mod.load_json(path)
    else:
        cfg = config_mod.RunConfig()
    return config_mod.apply_overrides(cfg, overrides)


def out_dir(value: str | None, flag: str = "--out") -> Path | None:
    """``--out`` as a Path (None when not given); UserError for an empty or blank value, which would
    otherwise mean the current directory."""
    if value is None:
        return None
    if not value.strip():
        raise UserError(f"{flag} must name a directory, got {value!r} (use {flag} . for the current directory)")
    return Path(value)
