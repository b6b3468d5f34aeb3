"""Read-only commands: wall time and peak memory of each, in a fresh process, and whether it imports torch.

Each command runs ``--repeats`` times as ``python -m largelr ...``, each time under a small wrapper
process that waits for it and reads ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` (its only child's
peak RSS); the best wall time and the largest peak are printed beside the target (issue 20: under 0.5 s
and 150 MB each; ``status`` on a 1,000-run study under 2 s). ``torch`` says whether the command imported
torch (``-X importtime`` in one extra run). The studies ``status`` reads are built here: ``--runs`` and
``--big-runs`` finished runs' files written directly (copies of one real tiny run, renamed to distinct
valid ids), so it measures the store reading, not training.

    .venv/bin/python benchmarks/readonly_latency.py [--repeats 3] [--runs 15] [--big-runs 1000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_SECONDS, TARGET_MB = 0.5, 150
BIG_TARGET_SECONDS = 2.0  # status on a --big-runs study (1,000 runs)


def make_study(root: Path, runs: int) -> Path:
    """A study of ``runs`` finished tiny runs (one trained, the rest its files under other configs' ids)."""
    from largelr import config, store
    from largelr.run import execute

    study = root / "study"
    base = config.apply_overrides(
        config.RunConfig(),
        ["data.n_train=200", "data.n_val=100", "data.n_test=100", "model.kwargs.width=8", "train.steps=10",
         "train.eval_every=10", "train.batch_size=50", 'eval.metrics=["robustness"]'],
    )  # fmt: skip
    execute(base, study)
    src = store.run_dir(study, base)
    for i in range(1, runs):
        cfg = config.apply_overrides(base, [f"seeds.order={i}"])
        dst = store.run_dir(study, cfg)
        shutil.copytree(src, dst)
        (dst / store.CONFIG).write_text(config.to_json(cfg, indent=2) + "\n")
    return study


WRAPPER = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
subprocess.run(sys.argv[1:], capture_output=True, stdin=subprocess.DEVNULL)
wall = time.perf_counter() - t0
print(json.dumps([wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))
"""


def measure(argv: list[str], repeats: int) -> tuple[float, float, bool]:
    """(best wall seconds, largest peak RSS in MB, imports torch)."""
    cmd = [sys.executable, "-m", "largelr", *argv]
    best, peak = float("inf"), 0.0
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, check=True)
        wall, mb = json.loads(out.stdout)
        best, peak = min(best, wall), max(peak, mb)
    trace = subprocess.run([sys.executable, "-X", "importtime", "-m", "largelr", *argv], capture_output=True, text=True)
    torch = any(line.split("|")[-1].strip() == "torch" for line in trace.stderr.splitlines())
    return best, peak, torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--runs", type=int, default=15, help="finished runs in the small study status reads")
    ap.add_argument("--big-runs", type=int, default=1000, help="finished runs in the large study (target 2 s)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        study = make_study(Path(tmp) / "small", args.runs)
        big = make_study(Path(tmp) / "big", args.big_runs)
        commands = {  # name: (argv, wall-time target)
            "--help": (["--help"], TARGET_SECONDS),
            "sweep --help": (["sweep", "--help"], TARGET_SECONDS),
            "config --keys": (["config", "--keys"], TARGET_SECONDS),
            "reproduce (unknown name)": (["reproduce", "no_such_target"], TARGET_SECONDS),
            f"status ({args.runs} runs)": (["status", str(study)], TARGET_SECONDS),
            f"status ({args.big_runs} runs)": (["status", str(big)], BIG_TARGET_SECONDS),
            "config": (["config"], TARGET_SECONDS),
            "config (typo in a dataset)": (["config", "--set", "data.name=colored_mnsit"], TARGET_SECONDS),
            "config (typo in a metric)": (["config", "--set", 'eval.metrics=["robustnes"]'], TARGET_SECONDS),
            "reproduce list": (["reproduce", "list"], TARGET_SECONDS),
        }
        print(f"{'command':28s} {'wall s':>7s} {'peak MB':>8s}  torch  target (< {TARGET_MB} MB)")
        rows = {}
        for name, (argv, target) in commands.items():
            wall, mb, torch = measure(argv, args.repeats)
            ok = "ok" if wall < target and mb < TARGET_MB else "over"
            print(f"{name:28s} {wall:7.2f} {mb:8.0f}  {'yes' if torch else 'no':5s}  < {target:g} s: {ok}")
            rows[name] = {"wall_s": round(wall, 3), "peak_mb": round(mb), "torch": torch}
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
