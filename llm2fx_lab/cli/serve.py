"""``llm2fx serve``: the lab's planners as an OpenAI-compatible server (:mod:`llm2fx_lab.server`)."""

from __future__ import annotations

import argparse


def add_serve_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``serve`` to an ``argparse`` sub-parser set."""
    p = subparsers.add_parser(
        "serve", help="serve planners as an OpenAI-compatible chat completions API",
        description="Serve the lab's planners as models of an OpenAI-compatible API: send the dry clip and the "
                    "reference as two input_audio parts, get reasoning text and tool_calls back.")
    p.add_argument("--planner", action="append", dest="planners", metavar="NAME",
                   help="a planner to serve (repeatable): analysis, mini, model:PATH, each may end in +refine "
                        "(default: analysis and analysis+refine)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any other needs "
                                                       "--api-key-env)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key-env", default=None, metavar="VAR",
                   help="environment variable holding the key clients must send (Authorization: Bearer KEY)")
    p.add_argument("--max-request-mb", type=float, default=64.0, help="largest request body (MB)")
    p.add_argument("--max-audio-seconds", type=float, default=60.0, help="longest clip a request may send")
    p.add_argument("--timeout-seconds", type=float, default=300.0, help="longest a planner may run per request")
    p.set_defaults(func=run_serve)
    return p


def run_serve(args: argparse.Namespace) -> int:
    from llm2fx_lab.server import Limits, ServeConfig, serve

    limits = Limits(int(args.max_request_mb * 2 ** 20), args.max_audio_seconds, args.timeout_seconds)
    config = ServeConfig(tuple(args.planners or ("analysis", "analysis+refine")), args.host, args.port,
                         args.api_key_env, limits)
    serve(config)
    return 0
