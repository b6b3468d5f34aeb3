"""``largelr completion``: the generated script, sourced by a real bash, completes subcommands, options, choices
and the names of shipped studies and reproduce targets."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from largelr.cli import build_parser
from largelr.cli.completion import completion_script


def complete(script: str, *words: str) -> list[str]:
    """COMPREPLY of bash's completion function for ``largelr WORDS...`` (the last word being typed)."""
    words_arr = " ".join(f'"{w}"' for w in ("largelr", *words))
    line = " ".join(("largelr", *words))
    program = (
        f'{script}\nCOMP_WORDS=({words_arr}); COMP_CWORD={len(words)}; COMP_LINE="{line}"; '
        'COMP_POINT=${#COMP_LINE}; _shtab_largelr; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return sorted(w for w in out.stdout.splitlines() if w)


@pytest.fixture(scope="module")
def bash_script() -> str:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    return completion_script("bash", build_parser())


def test_bash_completes_commands_options_and_names(bash_script):
    assert complete(bash_script, "st") == ["status"]
    assert complete(bash_script, "ex") == ["export"]
    assert complete(bash_script, "export", "") == ["mlflow", "tensorboard"]
    assert complete(bash_script, "reproduce", "he") == ["headline"]
    assert complete(bash_script, "reproduce", "headline", "--pr") == ["--preset"]
    assert complete(bash_script, "reproduce", "headline", "--preset", "") == ["full", "quick", "standard", "tiny"]
    assert "quickstart" in complete(bash_script, "sweep", "qu")


@pytest.mark.parametrize("shell", ["zsh", "tcsh"])
def test_other_shells_get_a_script(shell):
    script = completion_script(shell, build_parser())
    assert "largelr" in script and "reproduce" in script and "headline" in script
