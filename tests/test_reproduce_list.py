"""`reproduce list`: fast and torch-free (declarations read from source, design power from a recorded table)."""

from __future__ import annotations

import pytest

import largelr.reproduce as rep
from largelr.cli import main
from largelr.reproduce.design_table import TABLE


def offered() -> list[tuple[str, str]]:
    return [
        (name, preset)
        for name in rep.target_names()
        if not rep.load_target(name).unavailable
        for preset in ("quick", "standard", "full")
        if preset in rep.load_target(name).cost
    ]


def test_the_recorded_design_table_covers_every_offered_preset_and_nothing_else():
    assert sorted(TABLE) == sorted(f"{n}/{p}" for n, p in offered())


@pytest.mark.parametrize("name,preset", offered())
def test_each_recorded_design_power_equals_a_recomputation_on_the_current_file(name, preset):
    """Stale entries fail here: rerun ``tools/design_table.py`` after changing a target or the claims' tests."""
    t = rep.load_target(name)
    entry = TABLE[f"{name}/{preset}"]
    assert entry["fingerprint"] == rep.target_fingerprint(t), "design inputs changed: rerun tools/design_table.py"
    p, m = rep.design_power(t, preset)
    assert (entry["p_min_adj"], entry["tests"]) == (p, m)
    assert rep.cached_design_power(t, preset) == (p, m)


def test_a_target_file_changed_since_the_table_shows_not_recorded_and_power_computes_it(capsys, monkeypatch, tmp_path):
    import shutil

    shutil.copytree(rep.targets_dir(), tmp_path, dirs_exist_ok=True)
    with (tmp_path / "headline.py").open("a") as f:
        f.write("\n# edited\n")
    monkeypatch.setattr(rep, "targets_dir", lambda: tmp_path)
    assert rep.cached_design_power(rep.load_target("headline"), "quick") is None
    assert main(["reproduce", "list"]) == 0
    out = capsys.readouterr().out
    headline = out.split("\ndatasets ")[0]
    assert headline.count("not recorded for this design") == 3  # quick, standard, full
    assert out.count("not recorded") == 3  # the other targets read the table
    p, m = rep.design_power(rep.load_target("headline"), "quick")
    assert main(["reproduce", "list", "--power"]) == 0
    out = capsys.readouterr().out
    assert "not recorded" not in out and f"design: {m} tests" in out.split("\ndatasets ")[0]


@pytest.mark.parametrize("name", rep.target_names())
def test_listing_a_target_from_its_source_gives_what_loading_it_gives(name):
    """``reproduce list`` reads declarations without running the file; they must be what the file defines."""
    listed, loaded = rep.listed_target(name), rep.load_target(name)
    for field in ("name", "doc", "claims_covered", "cost", "unavailable", "needs"):
        assert getattr(listed, field) == getattr(loaded, field), field
    assert listed.missing() == loaded.missing()


def test_a_need_that_is_absent_names_the_file_the_variable_and_what_is_skipped(monkeypatch, tmp_path):
    monkeypatch.setenv("LARGELR_FASHION_MNIST_DIR", str(tmp_path))
    (missing,) = rep.needs_missing({"source:fashion_mnist": "dominoes"})
    assert missing == (
        f"image source fashion_mnist: missing {tmp_path}/train-images-idx3-ubyte[.gz] (set LARGELR_FASHION_MNIST_DIR, "
        "or run `largelr data download fashion_mnist --dir DIR`; published at "
        "https://github.com/zalandoresearch/fashion-mnist) (dominoes skipped)"
    )
    listed = rep.listed_target("datasets")
    assert any(m.endswith("(dominoes skipped)") for m in listed.missing())
    with pytest.raises(TypeError, match="expected 'source:NAME' or 'dataset:NAME'"):
        rep.needs_missing({"fashion_mnist": "dominoes"})


def test_the_presence_check_agrees_with_the_loader_on_which_idx_file_is_missing(monkeypatch, tmp_path):
    """The first IDX file absent (the others present, one in the mirrors' dotted spelling, one gzipped): the
    torch-free check and the loader name the same file in the same words."""
    import gzip

    from largelr.data.locations import IDX_FILES, files_missing
    from largelr.data.sources import load_idx_source
    from largelr.errors import UserError

    (tmp_path / IDX_FILES[1].replace("-idx", ".idx")).write_bytes(b"")
    with gzip.open(tmp_path / f"{IDX_FILES[2]}.gz", "wb") as f:
        f.write(b"")
    (tmp_path / IDX_FILES[3]).write_bytes(b"")
    monkeypatch.setenv("LARGELR_MNIST_DIR", str(tmp_path))
    message = files_missing("mnist")
    assert message is not None and f"missing {tmp_path / IDX_FILES[0]}[.gz]" in message
    with pytest.raises(UserError) as e:
        load_idx_source("mnist", str(tmp_path))
    assert str(e.value) == message


def test_the_fingerprint_changes_with_a_new_component_and_with_an_absent_need(monkeypatch, tmp_path):
    """The datasets target sweeps every registered dataset and skips what is absent: its recorded p holds only for
    the registry and the files it was computed with."""
    from largelr import catalog

    t = rep.listed_target("datasets")
    before = rep.target_fingerprint(t)
    real_names = catalog.names
    monkeypatch.setattr(
        catalog, "names", lambda var: [*real_names(var), "zz_new"] if var == "DATASETS" else real_names(var)
    )
    assert rep.target_fingerprint(t) != before
    monkeypatch.setattr(catalog, "names", real_names)
    assert rep.target_fingerprint(t) == before
    monkeypatch.setenv("LARGELR_FASHION_MNIST_DIR", str(tmp_path))  # fashion_mnist absent: dominoes is dropped
    assert rep.target_fingerprint(t) != before
