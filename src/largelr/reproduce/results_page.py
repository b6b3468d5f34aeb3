"""docs/results.md: the verdicts, key figures, commands and wall times of every reproduce target run here.

    python -m largelr.reproduce.results_page runs/reproduce docs/results.md

reads ``runs/reproduce/<target>/`` (each written by ``largelr reproduce <target>``, report included),
copies each target's key figures next to the page and writes the page. A target with no runs, or with
fewer finished runs than its preset has, is listed as pending or partial, never left out.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

from largelr import store
from largelr.report.tables import markdown_table


def _key_figures(report: Path) -> list[Path]:
    """The extra figures plus the first figure of each claim."""
    figs = sorted((report / "figures").glob("*.png"))
    out = [f for f in figs if f.stem in ("overlay", "attribution_maps", "dynamics")]
    seen: set[str] = set()
    for f in figs:
        if f.stem.startswith("claim_"):
            claim = f.stem.split("_")[1]
            if claim not in seen:
                seen.add(claim)
                out.append(f)
    return out


def _caption(report: Path, png: Path) -> str:
    md = (report / "report.md").read_text()
    marker = f"(figures/{png.name})\n\n*"
    i = md.find(marker)
    return md[i + len(marker) : md.index("*", i + len(marker))] if i >= 0 else png.stem


def target_block(name: str, study: Path, doc_dir: Path, preset: str = "quick") -> list[str]:
    """The markdown of one target: status, command, wall time, verdict table, key figures."""
    from largelr.reproduce import load_target

    target = load_target(name)
    lines = [f"## {name} (claims {', '.join(target.claims_covered)})", "", target.summary, ""]
    if target.unavailable:
        return [*lines, f"**Not available in this version:** {target.unavailable}", ""]
    if preset not in target.cost:
        return [*lines, f"**No {preset} preset yet** (this target has: {', '.join(target.cost)}).", ""]
    note = store.read_note(study) if study.is_dir() else {}
    preset = note.get("preset", preset)
    expected = len(target.configs(preset))
    runs = store.run_dirs(study) if study.is_dir() else []
    done = sum(store.run_state(d) == "done" for d in runs)
    cmd = f"largelr reproduce {name} --preset {preset} --jobs 2"
    lines += [f"Command: `{cmd}`. Runs finished here: {done} of {expected}."]
    for m in target.missing():
        lines.append(f"Skipped (files missing): {m}.")
    report = study / "report"
    if not done or not (report / "verdicts.csv").is_file():
        return [*lines, "", "**Pending:** not run here yet (shared CPU); run the command above.", ""]
    if done < expected:
        lines.append(f"**Partial:** {expected - done} runs were still pending when this page was written; the "
                     "verdicts below use the finished runs only.")  # fmt: skip
    prov = pd.read_csv(report / "verdicts.csv")
    made = ", ".join(f"{what} {_provenance_value(report, what)}" for what in ("code commit", "hosts", "report written"))
    lines += [
        f"Wall time: {_provenance_value(report, 'wall time')}. Made from: {made}.",
        "",
        markdown_table(prov.drop(columns=["statement", "outcome"], errors="ignore")),
        "",
        "*Rule: [how to read the verdicts](#how-to-read-the-verdicts) (below); tests.csv in the target's report has "
        "every test's Δ, interval, p and adjusted p.*",
        "",
    ]
    out = doc_dir / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for png in _key_figures(report):
        shutil.copy2(png, out / png.name)
        shutil.copy2(png.with_suffix(".csv"), out / png.with_suffix(".csv").name)
        rel = f"{doc_dir.name}/{name}/{png.name}"
        lines += [f"![{png.stem.replace('_', ' ')}]({rel})", "", f"*{_caption(report, png)}*", ""]
    return lines


def _provenance_value(report: Path, what: str) -> str:
    md = (report / "report.md").read_text()
    for line in md.splitlines():
        if line.startswith(f"| {what} |"):
            return line.split("|")[2].strip()
    return "unknown"


WHAT = {
    "quick": "The quick presets are smoke tests: small designs, compared at a fixed budget (the verdict cells say "
    "how many runs converged), some too small to reach significance after correction (each target says so). "
    "The standard presets (to convergence) are in [results-standard.md](results-standard.md).",
    "standard": "The standard presets train to convergence (train accuracy 100%, train loss below 1e-3) with "
    "designs that can reach significance after correction; verdicts use the converged runs only and list the "
    "others. Targets without a standard preset yet say so.",
}


def write_results(root: str | Path, out: str | Path, preset: str = "quick") -> Path:
    """Write the results page ``out`` from the ``preset`` reproduce runs under ``root``; figures go to ``out``'s
    folder under ``results/<target>/`` (``results-<preset>/`` for another preset than quick)."""
    from largelr.reproduce import target_names

    root, out = Path(root), Path(out)
    doc_dir = out.parent / ("results" if preset == "quick" else f"results-{preset}")
    doc_dir.mkdir(parents=True, exist_ok=True)
    cmd = "make results" + ("" if preset == "quick" else f" PRESET={preset}")
    lines = [
        f"# Results of the {preset} presets, as they came out here",
        "",
        f"Generated by `{cmd}` (= `largelr reproduce all --preset {preset} --jobs 2 --out RUNS` then "
        f"`python -m largelr.reproduce.results_page RUNS {out.name} {preset}`). Each target's full report "
        "(every figure, its CSV, provenance) is `RUNS/<target>/report/index.html`. Claims that did not "
        f"hold or were inconclusive are listed as they came out. {WHAT.get(preset, '')}",
        "",
    ]
    from largelr.report.verdicts import RULE

    for name in target_names():
        lines += target_block(name, root / name, doc_dir, preset)
    lines += ["## How to read the verdicts", "", RULE, ""]
    out.write_text("\n".join(lines).rstrip() + "\n")
    return out


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: python -m largelr.reproduce.results_page RUNS_DIR OUT.md [PRESET]")
    print(write_results(sys.argv[1], sys.argv[2], *sys.argv[3:]))
