"""The ``funkrs`` command line.

Commands: ``demo``, ``fit``, ``predict``, ``evaluate``, ``cross-validate``, ``recommend``,
``similar``, ``info``, ``plot``.

Exit codes: 0 success, 1 failure (bad data, missing file, ...), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from funkrs._funkrs import __version__
from funkrs.cli import _commands, _more
from funkrs.cli._common import UserError
from funkrs.exceptions import FunkrsError

__all__ = ["main"]

_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    **_commands.COMMANDS,
    **_more.COMMANDS,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="funkrs", description="Matrix factorization for recommender systems."
    )
    parser.add_argument("--version", action="version", version=f"funkrs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _commands.add_parsers(sub)
    _more.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(_COMMANDS[args.command](args))
    except KeyboardInterrupt:
        print("funkrs: interrupted", file=sys.stderr)
        return 130
    except (
        UserError,
        FunkrsError,
        ValueError,
        TypeError,
        LookupError,
        OSError,
        ImportError,
    ) as exc:
        print(f"funkrs: error: {exc}", file=sys.stderr)
        return 1
