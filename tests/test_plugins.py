"""A user's package adds datasets, models and metrics through the ``largelr.plugins`` entry-point group.

The fixture ``tests/fixtures/plugin`` is an installed distribution as pip leaves one (a package and its
``*.dist-info`` with ``entry_points.txt``); putting its folder on ``PYTHONPATH`` installs it for a
subprocess, as ``pip install`` would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PLUGIN = FIXTURES / "plugin"


def largelr(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "largelr", *argv], capture_output=True, text=True, env=env, cwd=cwd)


def test_a_plugin_dataset_is_listed_by_data_list():
    out = largelr("data", "list")
    assert out.returncode == 0, out.stderr
    block = out.stdout.split("demo_stripes", 1)[1].split("\n\n")[0]
    assert "[procedural]" in block and "n_dims" in block


def test_a_plugin_name_is_known_to_config_and_to_suggestions():
    out = largelr("config", "--set", "data.name=demo_stripes", "--set", "model.name=demo_two_layer")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["data"]["name"] == "demo_stripes"
    out = largelr("config", "--set", "data.name=demo_stripe")
    assert out.returncode == 2 and "did you mean demo_stripes" in out.stderr


def test_plugin_components_run_in_a_sweep(tmp_path):
    out = largelr("sweep", str(FIXTURES / "plugin_sweep.py"), "--out", str(tmp_path / "study"), "--no-progress")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 runs: 0 already done, 2 run now" in out.stdout
    results = [json.loads(p.read_text()) for p in (tmp_path / "study").glob("*/result.json")]
    assert len(results) == 2 and all("test/demo_mean_logit" in r["metrics"] for r in results)


def test_without_the_plugin_its_names_are_unknown():
    out = subprocess.run(
        [sys.executable, "-m", "largelr", "config", "--set", "data.name=demo_stripes"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "unknown dataset 'demo_stripes'" in out.stderr
