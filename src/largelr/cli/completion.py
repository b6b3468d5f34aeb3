"""``largelr completion bash|zsh|tcsh``: a shell completion script for every subcommand and option (shtab).

The script is static: it is generated from the parser, with the names of the shipped studies and reproduce
targets of this version written into it; regenerate it after upgrading largelr. Install (bash):
``largelr completion bash > ~/.local/share/bash-completion/completions/largelr``.
"""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "tcsh")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``completion SHELL`` to the main CLI's subparsers."""
    p = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash: largelr completion bash > "
        "~/.local/share/bash-completion/completions/largelr)",
    )
    p.add_argument("shell", choices=SHELLS)


def completion_script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script of ``largelr`` (its ``parser``, as ``largelr.cli.build_parser`` makes it) for
    ``shell``: subcommands, options, choices, directories, and the names of shipped studies and reproduce
    targets where a command takes one."""
    import shtab

    from largelr.reproduce import target_names
    from largelr.studies import study_names

    studies = " ".join(n for n in study_names() if not n.startswith("reproduce/"))
    targets = " ".join(["list", "all", *target_names()])
    names = {
        "experiment": _words("_largelr_studies", studies, files=True),
        "target": _words("_largelr_targets", targets),
    }
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for command in sub.choices.values():
        for action in command._actions:
            if action.dest in names and not action.option_strings:
                action.complete = names[action.dest]  # type: ignore[attr-defined]
            elif action.dest in ("dir", "out") or action.metavar == "DIR":
                action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
    return shtab.complete(parser, shell)


def _words(fn: str, words: str, files: bool = False) -> dict:
    more = ' ; compgen -f -- "$1"' if files else ""
    return {
        "bash": fn,
        "zsh": f"({words})" if not files else f"_alternative 'names:name:({words})' 'files:file:_files'",
        "tcsh": f"({words})",
        "preamble": {"bash": f'{fn}() {{ compgen -W "{words}" -- "$1"{more}; }}'},
    }


def run(args: argparse.Namespace) -> int:
    print(completion_script(args.shell, args.parser))
    return 0
