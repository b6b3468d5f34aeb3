"""Installed as users install it: a wheel built from this tree, installed (not editable) into a fresh venv,
runs ``largelr reproduce list`` and a tiny target from an empty directory.

No network here, so the fresh venv reaches the already-installed dependencies (torch, ...) through a
``.pth`` line naming this interpreter's site-packages; that line adds the directory only (its own
``.pth`` files, such as an editable install of largelr, are not processed), and the test asserts that
``largelr`` is imported from the new venv, with its studies as package data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**clean, **env}, timeout=900)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_reproduce_from_an_empty_dir(tmp_path):
    src = tmp_path / "src"
    skip = (".git", ".venv", "runs", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache")
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*skip))
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), "."], src)
    (whl,) = wheels.glob("largelr-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    for f in ("largelr/studies/quickstart.py", "largelr/studies/reproduce/headline.py", "largelr/cli/reproduce.py"):
        assert f in names

    venv = tmp_path / "venv"
    run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)], tmp_path)
    py = venv / "bin" / "python"
    site = Path(
        run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip()
    )
    (site / "_largelr_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index", str(whl)],
        tmp_path,
    )

    empty = tmp_path / "empty"
    empty.mkdir()
    where = run([str(py), "-c", "import largelr.studies as s; print(s.__file__)"], empty).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    largelr = venv / "bin" / "largelr"
    out = run([str(largelr), "reproduce", "list"], empty).stdout
    assert out.startswith("headline") and "mechanism" in out
    run([str(largelr), "reproduce", "headline", "--preset", "tiny", "--no-progress"], empty)
    report = empty / "runs" / "reproduce" / "headline" / "report"
    assert (report / "index.html").stat().st_size > 10_000 and (report / "verdicts.csv").is_file()
