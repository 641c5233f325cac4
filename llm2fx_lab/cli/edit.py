"""``llm2fx edit``: change a chain file with requests in plain words, no audio needed.

``llm2fx edit CHAIN REQUEST [REQUEST ...] [--out FILE] [--overwrite] [--json]``
    applies each request as one turn of a conversation (so "undo" and "bring back the delay"
    work across them), prints each reply (what changed, module, parameter, old -> new, or why
    nothing did) and the chain as official tool-call JSON; ``--out`` writes the chain there
    (never over an existing file without ``--overwrite``; CHAIN itself is never changed unless
    it is also ``--out``). The grammar is docs/edits.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.fx.chain import Chain, read_chain_file
from llm2fx_lab.planners.edits import Conversation


def write_chain(path: str, chain: Chain, overwrite: bool) -> None:
    """Write ``chain`` as JSON (bypassed modules marked), never over a file unless ``overwrite``."""
    out = Path(path)
    if out.suffix.lower() != ".json":
        raise Llm2FxError(f"--out is a chain file and must end in .json, got {out.name!r}")
    if out.exists() and not overwrite:
        raise Llm2FxError(f"{out} exists; pass --overwrite to replace it")
    part = out.with_name(out.name + ".part")
    part.write_text(chain.to_json(include_bypassed=True, indent=2) + "\n", encoding="utf-8")
    part.replace(out)


def cmd_edit(args: argparse.Namespace) -> int:
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise Llm2FxError(f"{args.out} exists; pass --overwrite to replace it")
    talk = Conversation(read_chain_file(args.chain))
    for request in args.requests:
        talk.say(request)
    if args.out:
        write_chain(args.out, talk.chain, args.overwrite)
    if args.json:
        body: dict[str, Any] = {"turns": [{"request": r, **res.to_json()} for r, res in zip(args.requests,
                                                                                           talk.results)],
                                "chain": talk.chain.to_tool_calls(include_bypassed=True),
                                "changed": talk.chain != talk.results[0].before}
        json.dump(body, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for request, result in zip(args.requests, talk.results):
        print(f"> {request}\n{result.reply}")
    if args.out:
        print(f"wrote {args.out}")
    else:
        print(talk.chain.to_json(include_bypassed=True, indent=2))
    return 0


def add_edit_parser(subparsers: Any) -> None:
    """Add ``edit`` to the ``llm2fx`` subparsers."""
    p = subparsers.add_parser(
        "edit", help="change a chain file with requests in plain words ('remove the delay', 'reverb mix 0.2')",
        description="Apply requests in plain words to a chain file, each as one turn of a conversation, and say "
                    "what changed (or why nothing did). Understood: remove, bypass or restore a module; add one; "
                    "set a parameter; nudge one ('a bit brighter', 'bass +3 dB'); move or swap modules; undo. "
                    "The full grammar: docs/edits.md.")
    p.add_argument("chain", metavar="CHAIN", help="chain JSON file (official tool calls)")
    p.add_argument("requests", metavar="REQUEST", nargs="+", help="a request, e.g. 'remove the delay'")
    p.add_argument("--out", default=None, help="write the edited chain to this .json file")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON object: each turn's changes and the chain")
    p.set_defaults(func=cmd_edit)
