"""README.md and docs/*.md render: every code fence is closed, every relative link and image points at a file of
the repository (and at a heading that exists, for a link to a Markdown anchor), nothing points at a path
outside it; and the documentation site builds with ``mkdocs build --strict``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def tokens(page: Path):
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py is not installed")
    return markdown_it.MarkdownIt("commonmark").enable("table").parse(page.read_text())


def slug(heading: str) -> str:
    """GitHub's and MkDocs' anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    toks = tokens(page)
    return {slug(toks[i + 1].content) for i, t in enumerate(toks) if t.type == "heading_open"}


def links(page: Path) -> list[str]:
    out = []
    for t in tokens(page):
        for child in [t, *(t.children or [])]:
            if child.type == "link_open":
                out.append(child.attrs["href"])
            elif child.type == "image":
                out.append(child.attrs["src"])
    return out


def unclosed_fences(page: Path) -> list[str]:
    lines = page.read_text().splitlines()
    bad = []
    for t in tokens(page):
        if t.type == "fence":
            start, end = t.map
            closing = lines[end - 1].strip() if end - 1 > start else ""
            if not (closing.startswith(t.markup) and closing.strip(t.markup[0]) == ""):
                bad.append(f"{page.name}:{start + 1}: the {t.markup} fence opened here is never closed")
    return bad


def dead_links(page: Path, root: Path = REPO) -> list[str]:
    bad = []
    for href in links(page):
        url = urlparse(href)
        if url.scheme in ("http", "https", "mailto"):
            continue
        target = (page.parent / unquote(url.path)).resolve() if url.path else page
        if url.scheme or not target.is_relative_to(root):
            bad.append(f"{page.name}: {href} points outside the repository")
        elif not target.exists():
            bad.append(f"{page.name}: {href}: no such file")
        elif url.fragment and target.suffix == ".md" and url.fragment not in anchors(target):
            bad.append(f"{page.name}: {href}: no heading #{url.fragment} there")
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_code_fence_is_closed(page):
    assert unclosed_fences(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_at_files_and_headings_of_the_repository(page):
    assert dead_links(page) == []


def test_the_checks_find_an_unclosed_fence_and_dead_links(tmp_path):
    page = tmp_path / "bad.md"
    page.write_text("# t\n\n```bash\nlargelr run\n\n## Next section\n\ntext\n")
    assert unclosed_fences(page) == ["bad.md:3: the ``` fence opened here is never closed"]
    page.write_text("# A b\n\n[x](missing.md) [y](#a-b) [z](#nope) [w](../../etc/passwd)\n")
    assert dead_links(page, root=tmp_path) == [
        "bad.md: missing.md: no such file",
        "bad.md: #nope: no heading #nope there",
        "bad.md: ../../etc/passwd points outside the repository",
    ]


def test_the_docs_site_builds_strictly(tmp_path):
    if shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mkdocs is not installed (pip install 'largelr[docs]')")
    mkdocs = Path(sys.executable).parent / "mkdocs"
    out = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "evaluate_predictions" in api and "select_runs" in api  # the reference comes from the docstrings
