"""Rewrite ``src/largelr/reproduce/design_table.py``: each reproduce target's attainable p, per preset.

``largelr reproduce list`` prints, for every target and preset, the smallest adjusted p its design can attain
(``largelr.reproduce.design_power``). Computing it evaluates every claim on a synthetic table, which needs torch
and pandas and takes seconds per target; a read-only command must not (< 0.5 s). So the values are
recorded here once, with a fingerprint of what each design depends on (``largelr.reproduce.target_fingerprint``:
the file, the registered components, the absent files it needs), and ``reproduce list`` reads them; a target
edited since, or a component added, shows "not recorded" until this script is run again.
``tests/test_reproduce_list.py`` recomputes every entry, so the table cannot silently go stale.

    .venv/bin/python tools/design_table.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "largelr" / "reproduce" / "design_table.py"
HEADER = '''"""Recorded design power of the shipped reproduce targets (by ``tools/design_table.py``; do not edit).

Key ``"target/preset"``: ``p_min_adj`` (the smallest adjusted p the weakest test can attain), ``tests`` (the Holm
family's size) and ``fingerprint`` (``largelr.reproduce.target_fingerprint`` when it was computed).
"""

'''


def table() -> dict[str, dict[str, object]]:
    """Every available target's design power at every preset it offers (quick, standard, full)."""
    from largelr import reproduce

    rows: dict[str, dict[str, object]] = {}
    for name in reproduce.target_names():
        t = reproduce.load_target(name)
        if t.unavailable:
            continue
        for preset in ("quick", "standard", "full"):
            if preset in t.cost:
                p, m = reproduce.design_power(t, preset)
                if not math.isfinite(p):
                    raise SystemExit(f"{name}/{preset}: no test has an attainable p ({p}); check its claims()")
                fingerprint = reproduce.target_fingerprint(t)
                rows[f"{name}/{preset}"] = {"p_min_adj": p, "tests": m, "fingerprint": fingerprint}
    return rows


def main() -> None:
    rows = "".join(f"    {json.dumps(k)}: {json.dumps(v, sort_keys=True)},\n" for k, v in sorted(table().items()))
    OUT.write_text(HEADER + "TABLE = {\n" + rows + "}\n")  # one entry per line, as ruff formats it
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
