"""The ``llm2fx`` command line: the parser and the toolset's own commands.

``llm2fx tools``                         print the 9 JSON tool schemas
``llm2fx describe CHAIN.json``           the chain in plain English
``llm2fx render --chain CHAIN.json IN OUT [--tail-seconds S] [--overwrite]``
``llm2fx estimate DRY REFERENCE ...`` / ``llm2fx bench ...``          (:mod:`.planners`)
``llm2fx data generate OUT [--n N] ...`` / ``llm2fx data stats DIR``  (:mod:`.data`)
``llm2fx train --preset NAME --data DIR --out DIR``                  (:mod:`.train`)
``llm2fx serve [--planner NAME ...] [--host H] [--port P]``         (:mod:`.serve`)

Bad input (unreadable audio, invalid chain, existing output) exits with code 2 and a
one-line message of at most 300 characters, never a traceback. ``render`` streams any length
of audio in blocks (the cpu backend; the torch backend renders whole clips of up to 10 min).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from llm2fx_lab.audio.io import WRITABLE, load_audio, save_audio
from llm2fx_lab.cli.data import add_data_parser
from llm2fx_lab.cli.edit import add_edit_parser
from llm2fx_lab.cli.planners import add_planner_parsers
from llm2fx_lab.cli.serve import add_serve_parser
from llm2fx_lab.cli.train import add_train_parser
from llm2fx_lab.errors import Llm2FxError, one_line, quoted
from llm2fx_lab.fx.chain import describe_chain, read_chain_file
from llm2fx_lab.fx.render import render, render_file
from llm2fx_lab.fx.schemas import tool_schemas, toolset_markdown

EXIT_USAGE = 2
#: The torch backend renders a clip whole, in memory: at most this long (the cpu one streams).
TORCH_RENDER_MAX_SECONDS = 600.0


class _Fail(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line too (``--help`` still prints the usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, one_line(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")


def cmd_tools(args: argparse.Namespace) -> int:
    if args.markdown:
        sys.stdout.write(toolset_markdown())
    else:
        json.dump(tool_schemas(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    print(describe_chain(read_chain_file(args.chain)))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    chain = read_chain_file(args.chain)
    out = Path(args.output)
    if out.suffix.lower() not in WRITABLE:
        raise _Fail(f"output must end in {' or '.join(WRITABLE)}, got {quoted(out.name)}")
    if out.exists() and not args.overwrite:
        raise _Fail(f"{out} exists; pass --overwrite to replace it")
    if args.backend == "cpu":
        seconds, _ = render_file(args.input, out, chain, args.tail_seconds, overwrite=args.overwrite,
                                 progress=sys.stderr.isatty())
    else:
        audio, sr = load_audio(args.input, max_seconds=TORCH_RENDER_MAX_SECONDS + 1)
        if audio.shape[1] > TORCH_RENDER_MAX_SECONDS * sr:
            raise _Fail(f"{Path(args.input).name} is longer than {TORCH_RENDER_MAX_SECONDS:g} s: the torch backend "
                        "renders whole clips in memory; --backend cpu renders any length, block by block")
        wet = render(audio, sr, chain, tail_seconds=args.tail_seconds, backend=args.backend)
        save_audio(out, wet, sr, overwrite=args.overwrite)
        seconds = wet.shape[1] / sr
    print(f"wrote {out} ({seconds:.2f} s, {len(chain.active)} modules, {args.backend})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="llm2fx", description="Tool-calling audio effect chains (LLM2Fx-Tools) on the command line.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tools", help="print the JSON tool schemas of the 9 modules")
    p.add_argument("--markdown", action="store_true", help="a Markdown reference table instead")
    p.set_defaults(func=cmd_tools)

    p = sub.add_parser("describe", help="describe a chain JSON file in plain English")
    p.add_argument("chain", help="official tool-call JSON: [{\"name\": ..., \"arguments\": {...}}, ...]")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("render", help="render an audio file through a chain")
    p.add_argument("--chain", required=True, help="chain JSON file")
    p.add_argument("input", help="input audio (wav, flac, ogg, mp3)")
    p.add_argument("output", help="output audio (.wav or .flac)")
    p.add_argument("--tail-seconds", type=float, default=0.0,
                   help="seconds of silence appended so reverb/delay tails are kept (default 0)")
    p.add_argument("--backend", choices=("cpu", "torch"), default="cpu",
                   help="cpu (pedalboard, the reference; any length, block by block) or torch (whole clips of "
                        f"up to {TORCH_RENDER_MAX_SECONDS:g} s)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(func=cmd_render)

    add_edit_parser(sub)
    add_planner_parsers(sub)
    add_data_parser(sub)
    add_train_parser(sub)
    add_serve_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (Llm2FxError, _Fail) as exc:
        print(one_line(f"llm2fx {args.command}: error: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a file the system refused (no space, no permission): one line too
        where = f" ({exc.filename})" if exc.filename else ""
        print(one_line(f"llm2fx {args.command}: error: {exc.strerror or exc}{where}"), file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `llm2fx tools | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("llm2fx: interrupted", file=sys.stderr)
        return 130

