"""docs/results.md: the verdicts, key figures, commands and wall times of every reproduce target run here.

    python -m largelr.report.results_page runs/reproduce-standard docs/results.md standard

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
    done = sum(store.status(d) == "done" for d in runs)
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
    lines.append(converged_line(study, preset))
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


CONVERGED_AIM = 0.8  # the standard presets aim for at least this share of converged runs


def converged_line(study: Path, preset: str) -> str:
    """How many of the target's ok runs that train to convergence (``until=converged``) did converge; at the
    standard preset, a share below CONVERGED_AIM is said in bold."""
    from largelr.report.collect import load_results

    df = load_results(study)
    if not len(df):
        return "Converged: no finished runs."
    until = df["cfg.train.until"] if "cfg.train.until" in df else pd.Series("converged", index=df.index)
    ok = df[(df["status"] == "ok") & (until == "converged")]
    n, c = len(ok), int(ok["converged"].astype(bool).sum())
    budget = int((until == "budget").sum())
    text = f"Converged: {c} of {n} ok runs ({c / max(n, 1):.0%})"
    text += f"; {budget} more are compared after a fixed number of steps by design." if budget else "."
    failed = int((df["status"] != "ok").sum())
    if failed:
        text += f" Failed or diverged: {failed}."
    if preset == "standard" and n and c < CONVERGED_AIM * n:
        text += f" **Below the {CONVERGED_AIM:.0%} of runs the standard preset aims to converge.**"
    return text


def _provenance_value(report: Path, what: str) -> str:
    md = (report / "report.md").read_text()
    for line in md.splitlines():
        if line.startswith(f"| {what} |"):
            return line.split("|")[2].strip()
    return "unknown"


WHAT = {
    "quick": "The quick presets are smoke tests: small designs, compared at a fixed budget (the verdict cells say "
    "how many runs converged), some too small to reach significance after correction (each target says so). "
    "The standard presets (to convergence) are in [results.md](results.md).",
    "standard": "The standard presets train to convergence (train accuracy 100%, train loss below 1e-3) with "
    "designs that can reach significance after correction; verdicts use the converged runs only and list the "
    "others. Targets without a standard preset yet say so. Wall times were measured on a 2-core machine shared "
    "with other jobs, so they are upper bounds of the cost on 2 idle cores. The quick presets (smoke tests) are in "
    "[results-quick.md](results-quick.md).",
}


def write_results(root: str | Path, out: str | Path, preset: str = "quick") -> Path:
    """Write the results page ``out`` from the ``preset`` reproduce runs under ``root``; figures go to the folder
    named like the page (``docs/results.md`` -> ``docs/results/<target>/``)."""
    from largelr.reproduce import target_names

    root, out = Path(root), Path(out)
    doc_dir = out.parent / out.stem
    doc_dir.mkdir(parents=True, exist_ok=True)
    cmd = "make results" + ("" if preset == "standard" else f" PRESET={preset}")
    lines = [
        f"# Results of the {preset} presets, as they came out here",
        "",
        f"Generated by `{cmd}` (= `largelr reproduce all --preset {preset} --jobs 2 --out RUNS` then "
        f"`python -m largelr.report.results_page RUNS {out.name} {preset}`). Each target's full report "
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
        sys.exit("usage: python -m largelr.report.results_page RUNS_DIR OUT.md [PRESET]")
    print(write_results(sys.argv[1], sys.argv[2], *sys.argv[3:]))
