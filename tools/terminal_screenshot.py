"""Render terminal output as a PNG that looks like a terminal (README's verdict-table screenshot).

    largelr reproduce headline --preset quick --report-only | python tools/terminal_screenshot.py docs/verdict_table.png

Reads the text from stdin; the first line of the picture is the command given with --command.
"""

from __future__ import annotations

import argparse
import sys


def render(text: str, out: str, width_chars: int = 120) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [line[:width_chars] for line in text.rstrip("\n").splitlines()]
    cols = max(len(line) for line in lines)
    fig = plt.figure(figsize=(0.075 * cols + 0.4, 0.19 * len(lines) + 0.4), dpi=150)
    fig.patch.set_facecolor("#1e1e1e")
    fig.text(0.01, 0.98, "\n".join(lines), family="DejaVu Sans Mono", size=9, color="#e8e8e8", va="top", ha="left")
    fig.savefig(out, facecolor=fig.get_facecolor())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--command", help="shown as the first line, after a $ prompt")
    args = p.parse_args()
    text = sys.stdin.read()
    render((f"$ {args.command}\n" if args.command else "") + text, args.out)


if __name__ == "__main__":
    main()
