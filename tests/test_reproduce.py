"""``largelr reproduce``: every target end to end at the tiny size (report sections, figures, verdict rows),
the target list, errors, and the report in a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from largelr.cli import main
from largelr.reproduce import load_target, source_missing, target_names
from threads import torch_threads

AVAILABLE = [n for n in target_names() if not load_target(n).unavailable]


def expected_rows(name: str) -> list[tuple[str, str]]:
    """(claim, setting) of every verdict row, written out by hand from the target's design."""
    fashion = source_missing("fashion_mnist") is None
    if name == "headline":
        return [("1", "all runs"), ("2", "all runs")]
    if name == "standard":
        groups = ["data.kwargs.source=mnist5k", "data.kwargs.source=fashion_mnist"] if fashion else ["all runs"]
        return [(c, g) for c in ("5", "5b") for g in groups]
    if name == "mechanism":
        return [("6a", "all runs"), ("6b", "train.bc_set=oracle"), ("6b", "train.bc_set=jtt"),
                ("6b-control", "oracle set at LR 0.01, LR-matched controls"), ("6c", "all runs")]  # fmt: skip
    if name == "architectures":  # tiny: MLP and CNN with plain SGD; the model columns name each group
        # (a setting the MLP does not have, depth, is left out of its label; 3.0 is written 3)
        return [("4", "model.name=mlp, model.kwargs.width=128"),
                ("4", "model.name=cnn, model.kwargs.depth=3, model.kwargs.width=8")]  # fmt: skip
    if name == "knobs":  # claim 3 is one comparison over the knobs; the tiny study has no other setting
        return [("3", "all runs")]
    if name == "datasets":
        names = ["double_mnist", "dominoes", "colored_mnist", "colored_frame", "colored_ring", "corrupted", "parity",
                 "rare_patch"]  # fmt: skip
        return [("4", f"data.name={n}") for n in names if fashion or n != "dominoes"]
    if name == "regimes":
        return [("R1", "all runs"), ("R2", "all runs")]
    raise AssertionError(f"no expectation written for target {name}")


# figures per target: one per check of each claim, plus the claim's extra figures (overlay, maps, dynamics)
EXPECTED_FIGURES = {
    "architectures": 3,
    "headline": 3 + 3 + 2,
    "standard": 3 + 1,
    "mechanism": (2 + 5) + 4 + 0 + 4,  # 6a: dynamics vs step and vs tau + 5 tests; 6b-control has no figure
    "datasets": 3,
    "knobs": 1,  # claim 3 has no per-test figure: the knob x property heat-map
    "regimes": (3 + 2) + 1,  # R1: 3 tests + properties vs eta/eta_crit + the observatory; R2: 1 test
}


@pytest.fixture(scope="session")
def tiny_reports(tmp_path_factory) -> dict[str, Path]:
    """Every available target run at the tiny preset through the CLI, on one thread, into its own dir."""
    root = tmp_path_factory.mktemp("reproduce")
    out = {}
    with torch_threads(1):
        for name in AVAILABLE:
            assert main(["reproduce", name, "--preset", "tiny", "--out", str(root / name), "--no-progress"]) == 0
            out[name] = root / name / "report"
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", AVAILABLE)
def test_each_target_report_has_every_section_figure_and_verdict_row(tiny_reports, name):
    import pandas as pd

    rep = tiny_reports[name]
    verdicts = pd.read_csv(rep / "verdicts.csv")
    assert sorted(zip(verdicts["claim"].astype(str), verdicts["setting"])) == sorted(expected_rows(name))
    assert set(verdicts["outcome"]) <= {"holds", "does not hold", "inconclusive"}
    cell = r"^(holds|does not hold|inconclusive) \((at a fixed budget: )?\d+/\d+ converged\)$"
    assert all(re.match(cell, v) for v in verdicts["verdict"])
    stat = r"ρ̄\(.+\) (= -?\d\.\d\d, Δ = \S+ (\[.+\]|\(no interval\)), p = \S+, adj\. \S+ \(|undefined, n = \d+)"
    knob_row = r"lr: (holds|does not hold|inconclusive)"
    assert all(re.search(knob_row if name == "knobs" else stat, e) for e in verdicts["evidence"])

    md = (rep / "report.md").read_text()
    tests = pd.read_csv(rep / "tests.csv")
    design = re.search(r"^Design \(preset tiny\): (\d+) tests in one Holm family; the weakest test's smallest "
                       r"attainable adjusted p is (\S+), so", md, re.M)  # fmt: skip
    assert design and int(design.group(1)) == tests["p_adj"].notna().sum()
    assert md.index("Design (preset") < md.index("| claim |")  # above the table; the rule is below it
    assert md.index("| claim |") < md.index("Rule: each test is a trend test")
    titles = re.findall(r"^## (.+)$", md, flags=re.M)
    claim_ids = sorted({c for c, _ in expected_rows(name)})
    assert titles[0] == "Verdicts" and titles[-2:] == ["Provenance", "Runs per learning rate"]
    assert sorted(re.match(r"Claim (\S+):", t).group(1) for t in titles[1:-2]) == claim_ids
    figure = r"^!\[([^\]]+)\]\((figures/[^)]+\.png)\)\n\n\*(.+)\* \[data: [^\]]+\.csv\]\((figures/[^)]+\.csv)\)$"
    figs = re.findall(figure, md, re.M)
    assert len(figs) == EXPECTED_FIGURES[name] == len(list((rep / "figures").glob("*.png")))
    for alt, png, caption, csv in figs:
        assert alt.strip() and caption[0].isupper()
        assert (rep / png).stat().st_size > 1000 and (rep / csv).is_file()
        if caption.endswith(("one line.", "one line per setting.")):  # a claim's figure: lines = settings drawn
            assert caption.endswith("per setting.") == (pd.read_csv(rep / csv)["setting"].nunique() > 1), caption
    assert "[verdicts.csv](verdicts.csv)" in md and "[tests.csv](tests.csv)" in md

    page = (rep / "index.html").read_text()
    assert page.count("<img ") == page.count("<figcaption>") == EXPECTED_FIGURES[name]
    assert page.count('alt=""') == 0  # self-contained: nothing loaded from elsewhere (notes may name URLs)
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert page.index('id="verdicts"') < page.index('id="claim_')  # verdicts on top
    assert page.count('<div class="scroll">') == page.count("<table")  # every table scrolls in its box


def test_the_datasets_target_takes_every_procedural_dataset_from_the_registry(monkeypatch):
    """A dataset registered without files joins the datasets target with no list to edit (here: parity again)."""
    import dataclasses

    from largelr.data import DATASETS

    monkeypatch.setitem(
        DATASETS._specs, "parity_again", dataclasses.replace(DATASETS.spec("parity"), name="parity_again")
    )
    names = {c.data.name for c in load_target("datasets").configs("tiny")}
    assert {"parity_again", "parity", "double_mnist", "rare_patch"} <= names


def test_list_names_every_target_with_claims_and_cost(capsys):
    assert main(["reproduce", "list"]) == 0
    out = capsys.readouterr().out
    for name in target_names():
        t = load_target(name)
        assert re.search(rf"^{name}\s+claims {re.escape(', '.join(t.claims_covered))}", out, re.M)
        if t.unavailable:
            assert f"NOT AVAILABLE: {t.unavailable}" in out


def test_unknown_and_unavailable_targets_are_one_line_errors(capsys, tmp_path, monkeypatch):
    assert main(["reproduce", "headlin", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown reproduce target 'headlin'; known: headline,") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
    # every shipped target is available: a target file that declares UNAVAILABLE stands in for one
    import largelr.reproduce

    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "later.py").write_text('NAME = "later"\nCLAIMS = ("9",)\nUNAVAILABLE = "needs a later version"\n')
    monkeypatch.setattr(largelr.reproduce, "targets_dir", lambda: targets)
    assert main(["reproduce", "later", "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert err == "error: reproduce target 'later' is not available: needs a later version\n"
    assert not (tmp_path / "y").exists()


# ---------------------------------------------------------------------------------------------
# the report in a real browser

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || (e.target && e.target.src) || e)), true);
const _err = console.error; console.error = (...a) => { window.__errors.push(a.join(' ')); _err(...a); };
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const nums = [...document.querySelectorAll('.num')];
  const broken = nums.filter(n => n.getClientRects().length !== 1).map(n => n.textContent);
  const r = {images: imgs.length, loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
             width: window.innerWidth, overflow: document.documentElement.scrollWidth - window.innerWidth,
             numbers: nums.length, broken: broken.slice(0, 10), errors: window.__errors};
  parent.postMessage(r, '*');
});
</script>"""
# headless Chromium's window is at least 500 px wide: the page is drawn in a frame of the width under test
FRAME = """<!doctype html><html><body style="margin:0"><iframe src="{page}" style="width:{width}px;height:{height}px;
border:0;display:block"></iframe><script>window.addEventListener('message', e => {{
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(e.data);
  document.body.appendChild(pre); }});</script></body></html>"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--hide-scrollbars"]  # fmt: skip
WIDTHS = (1280, 390)  # desktop and a phone-width window


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium)")


def framed(page: Path, width: int, height: int) -> Path:
    """A page showing ``page`` in a frame ``width`` px wide (beside it, so relative links resolve alike)."""
    out = page.with_name(f"frame_{width}_{page.name}")
    out.write_text(FRAME.format(page=page.name, width=width, height=height))
    return out


def probe(browser: str, page: Path, width: int, tmp: Path) -> dict:
    proc = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={tmp / 'profile'}", f"--window-size={max(width, 500)},900",
         "--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0", "--dump-dom",
         framed(page, width, 900).as_uri()],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    m = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout)
    assert m, f"the probe did not report (exit {proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    result["console"] = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln and ":ERROR:" in ln]
    return result


def screenshot(browser: str, page: Path, width: int, shot: Path, tmp: Path) -> None:
    subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={tmp / 'profile'}", f"--window-size={max(width, 500)},2400",
         f"--screenshot={shot}", "--virtual-time-budget=10000", framed(page, width, 2400).as_uri()],
        capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.parametrize("page", ["reproduce", "study"])
def test_report_renders_in_headless_chromium(tiny_reports, tmp_path, page):
    """The headline target's page and the study report of the same runs, at 1280 and 390 px: every image
    loads, no number breaks across lines, the page is never wider than the window; a screenshot at each width."""
    from largelr.report import write_report

    browser = chromium()
    report = tiny_reports["headline"]
    if page == "study":
        report = write_report(report.parent, tmp_path / "study_report")
    probed = report / "probed.html"  # beside the page, so its relative links resolve the same way
    html = (report / "index.html").read_text()
    probed.write_text(html.replace("<head>", "<head>" + PROBE, 1))
    n_img = html.count("<img ")
    for width in WIDTHS:
        r = probe(browser, probed, width, tmp_path)
        assert r["width"] == width, r
        assert r["images"] == n_img and r["loaded"] == n_img, r
        assert n_img == (8 if page == "reproduce" else len(list((report / "figures").glob("*.png")))), r
        assert r["errors"] == [] and r["console"] == [], r
        assert r["overflow"] <= 0, f"page wider than a {width}px window by {r['overflow']}px"
        assert r["numbers"] > 50 and r["broken"] == [], r  # numbers in tables, text and captions, none split
        screenshot(browser, report / "index.html", width, tmp_path / f"{page}_{width}.png", tmp_path)
    for f in report.glob("*.html"):
        if f.name != "index.html":
            f.unlink()


@pytest.mark.slow
def test_results_page_lists_every_target_with_verdicts_or_status(tiny_reports, tmp_path):
    import pandas as pd

    from largelr.reproduce.results_page import write_results

    root = next(iter(tiny_reports.values())).parent.parent
    page = write_results(root, tmp_path / "docs" / "results.md").read_text()
    for name in target_names():
        assert f"## {name} (claims " in page
        if load_target(name).unavailable:
            assert f"## {name}" in page and "**Not available in this version:**" in page
    for name, rep in tiny_reports.items():
        rows = pd.read_csv(rep / "verdicts.csv")
        block = page[page.index(f"## {name} (") :]
        assert f"Command: `largelr reproduce {name} --preset tiny --jobs 2`" in block
        assert f"Runs finished here: {len(load_target(name).configs('tiny'))} of " in block
        assert "Converged: 0 of " in block  # 20 steps: no tiny run converges
        for verdict, evidence in zip(rows["verdict"], rows["evidence"]):
            assert f"| {verdict} | {evidence.replace('|', chr(92) + '|')} |" in block  # markdown escapes |
    figs = re.findall(r"!\[[^\]]+\]\((results/[^)]+\.png)\)", page)
    assert figs and all((tmp_path / "docs" / f).is_file() for f in figs)


def test_every_standard_preset_can_reach_alpha_and_converges_by_its_declared_tolerance():
    """A standard preset's design must be able to reach alpha after the Holm correction over its report, and
    its runs are trained to convergence at the standard tolerance (``until=converged``), but for runs compared
    after the same number of steps by design (``until=budget``: the mechanism's factorial), a minority."""
    from largelr.report.stats import ALPHA
    from largelr.reproduce import STANDARD_LOSS_TOL, design_power

    offered = [n for n in target_names() if "standard" in load_target(n).cost]
    assert {"headline", "datasets", "architectures", "knobs", "standard", "mechanism"} <= set(offered)
    for name in offered:
        t = load_target(name)
        p, m = design_power(t, "standard")
        assert p < ALPHA and m > 0, (name, p, m)
        cfgs = t.configs("standard")
        conv = [c for c in cfgs if c.train.until == "converged"]
        assert len(conv) > 0.6 * len(cfgs) and {c.train.loss_tol for c in conv} == {STANDARD_LOSS_TOL}, name


def test_a_target_without_the_preset_says_which_it_has(capsys, tmp_path, monkeypatch):
    import dataclasses

    import largelr.reproduce as rep

    real = rep.load_target

    def quick_and_full_only(name):  # a target as it is before it gets a standard preset
        t = real(name)
        return dataclasses.replace(t, cost={k: v for k, v in t.cost.items() if k != "standard"})

    monkeypatch.setattr(rep, "load_target", quick_and_full_only)
    assert main(["reproduce", "architectures", "--preset", "standard", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err == "error: reproduce target 'architectures' has no 'standard' preset yet; it has: quick, full\n"
    assert not (tmp_path / "a").exists()


@pytest.mark.slow
def test_converged_only_lists_the_runs_it_leaves_out(tiny_reports, tmp_path):
    """The tiny runs never converge (20 steps): every ok run is left out, by LR, beside the verdict table."""
    import pandas as pd

    from largelr.report.collect import load_results
    from largelr.reproduce.page import write_target_report

    study = tiny_reports["headline"].parent
    runs = load_results(study)
    ok = runs[runs["status"] == "ok"]
    out = write_target_report(study, load_target("headline"), tmp_path / "r", converged_only=True)
    md = (out / "report.md").read_text()
    per_lr = "; ".join(f"LR {lr:g}: {n}" for lr, n in ok.groupby("cfg.optim.lr").size().items())
    assert f"Converged runs only: 0 ok runs used; left out, not converged ({len(ok)}): {per_lr}." in md
    assert set(pd.read_csv(out / "verdicts.csv")["outcome"]) == {"inconclusive"}


def test_results_page_counts_converged_runs_apart_from_fixed_budget_ones(monkeypatch, tmp_path):
    import pandas as pd

    import largelr.report.collect as collect
    from largelr.reproduce.results_page import converged_line

    df = pd.DataFrame({"status": ["ok"] * 12 + ["failed"], "converged": [True] * 7 + [False] * 6,
                       "cfg.train.until": ["converged"] * 10 + ["budget"] * 2 + ["converged"]})  # fmt: skip
    monkeypatch.setattr(collect, "load_results", lambda study: df)
    assert converged_line(tmp_path, "quick") == (
        "Converged: 7 of 10 ok runs (70%); 2 more are compared after a fixed number of steps by design. "
        "Failed or diverged: 1."
    )
    assert converged_line(tmp_path, "standard").endswith(
        "**Below the 80% of runs the standard preset aims to converge.**"
    )
    monkeypatch.setattr(collect, "load_results", lambda study: df.assign(converged=[True] * 13))
    assert converged_line(tmp_path, "standard") == (
        "Converged: 10 of 10 ok runs (100%); 2 more are compared after a fixed number of steps by design. "
        "Failed or diverged: 1."
    )


def test_results_page_of_the_standard_preset_says_which_targets_have_none(tmp_path):
    from largelr.reproduce.results_page import write_results

    page = write_results(tmp_path / "runs", tmp_path / "docs" / "results-standard.md", "standard").read_text()
    assert page.startswith("# Results of the standard presets, as they came out here")
    for name in target_names():
        t = load_target(name)
        if "standard" not in t.cost:
            assert f"**No standard preset yet** (this target has: {', '.join(t.cost)})." in page
        else:  # nothing has run under tmp_path: pending, with the command that runs it
            block = page[page.index(f"## {name} (") :]
            assert f"Command: `largelr reproduce {name} --preset standard --jobs 2`" in block
