"""The ``largelr`` command line: one module per command, each thin (parse, call a library function, print).

Each command module has ``add_parser(subparsers)`` and ``run(args) -> exit code``; ``COMMANDS`` lists them in
the order ``--help`` shows. Building the parser imports no torch (commands import what they need when run).
User errors (``largelr.errors.UserError``) print one line ``error: ...`` to stderr and exit with 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from largelr import __version__
from largelr.checkpoint import Preempted
from largelr.cli import completion, config, data, export, repair, report, reproduce, run, status, suggest, sweep
from largelr.errors import UserError

log = logging.getLogger("largelr")
COMMANDS = (run, sweep, status, report, repair, config, data, reproduce, suggest, export, completion)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="largelr",
        description="Learning-rate studies of spurious-correlation robustness and compressibility.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        before = set(sub.choices)
        command.add_parser(sub)
        for name in set(sub.choices) - before:
            sub.choices[name].set_defaults(handler=command.run, parser=parser)  # completion reads the parser
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    try:
        return args.handler(args)
    except UserError as e:
        print(f"error: {' '.join(str(e).splitlines())}", file=sys.stderr)  # one line, whatever the message holds
        return 2
    except Preempted as e:
        print(f"interrupted: {e}; the same command resumes the run from it", file=sys.stderr)
        return 143
    except OSError as e:  # a full disk or a read-only target while writing: no traceback
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except RecursionError:
        print("error: the input is nested too deeply to be read", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: runs in flight are incomplete and will be redone by the same command", file=sys.stderr)
        return 130
