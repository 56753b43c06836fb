"""``.. autoens-cli::``: the command-line reference, generated from the parsers.

Renders ``autoens --help`` and the ``--help`` of every command and sub-command
(``autoens benchmark run``) as literal blocks under a heading per command, straight
from :func:`autoens.cli.build_parser`, so the page cannot drift from the code.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive


def _help(parser: argparse.ArgumentParser) -> str:
    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal width
    return parser.format_help()


def _commands(
    parser: argparse.ArgumentParser, prefix: str
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(_commands(sub, f"{prefix} {name}"))
    return found


class AutoensCli(Directive):
    has_content = False

    def run(self) -> list[Any]:
        from autoens.cli import build_parser

        out: list[Any] = []
        for name, parser in _commands(build_parser(), "autoens"):
            ident = nodes.make_id(name)
            section = nodes.section(
                ids=[ident], names=[nodes.fully_normalize_name(name)]
            )
            section += nodes.title(text=name)
            text = _help(parser)
            block = nodes.literal_block(text, text)
            block["language"] = "text"
            section += block
            out.append(section)
        return out


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("autoens-cli", AutoensCli)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
