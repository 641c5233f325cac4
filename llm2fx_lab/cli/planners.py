"""``llm2fx estimate`` and ``llm2fx bench``: planners on the command line.

``llm2fx estimate DRY REFERENCE [--planner NAME] [--refine | --style] [--instruction TEXT [--chain FILE]] [--json] [--out OUT]``
    streams the reasoning to the terminal and prints the chain; ``--style`` is style mode (the
    reference is a different recording whose sound DRY should take on: docs/style.md); ``--instruction`` with
    ``--chain`` is a conversation turn that edits that chain instead of estimating one (a chat
    LLM gets the request and the chain; other planners use the edit grammar, docs/edits.md),
    and the reply says what changed; ``--json`` prints one JSON
    object ``{"chain": [...], "reasoning": ..., "timings": {...}, ...}`` instead; ``--out``
    renders the whole dry file through the estimate (block by block, any length). ``DRY`` may
    be ``none`` (blind estimation). The planner hears the first :data:`ESTIMATE_SECONDS` of
    each clip (the output says so when a clip is longer): memory does not grow with the files.
``llm2fx bench --planner NAME [--refine] [--split test] [--per-length N] [--folder DIR] [--workers N | --cluster ADDRESS]``
    runs a planner on LP-Fx-style test pairs (or a folder of dry clips with chains) and prints
    the paper's metrics per chain length, with calibration rows; ``--workers``/``--cluster``
    spread the pairs over local processes or a Dask cluster (docs/cluster.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llm2fx_lab.audio.io import audio_seconds, load_audio, resample
from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.events import Final, Response, Thinking, ToolCallEvent, collect
from llm2fx_lab.fx.chain import read_chain_file
from llm2fx_lab.fx.render import render_file
from llm2fx_lab.planners.edits import plan_turn
from llm2fx_lab.planners.registry import (
    PLANNER_NAMES,
    default_planner,
    get_planner,
    is_chat_planner,
    is_model_planner,
)

DEVICE_HELP = ("where refinement, a model planner and the analysis planner's order search run: auto (CUDA when "
               "available), cpu, cuda or cuda:N (default: refinement auto, the rest on the CPU)")
GUIDE_HELP = ("a model planner (mini, model:PATH) names the modules its chain probe hears "
              "(llm2fx_lab.model.guide; more right modules, renders further off: see the model card)")


def _check_planner_flags(args: argparse.Namespace) -> None:
    """``--presence-guide`` needs a model planner named outright, ``--api-key-env`` and
    ``--attach-audio`` a chat one (checked before any work)."""
    name = args.planner or ""
    if getattr(args, "presence_guide", False) and not is_model_planner(name):
        raise Llm2FxError("--presence-guide steers a model planner's decoding: pass --planner mini or "
                          f"--planner model:PATH, got {name or 'the default planner'!r}")
    for flag in ("api_key_env", "attach_audio", "upload_audio"):
        if getattr(args, flag, None) and not name.startswith("llm:"):
            raise Llm2FxError(f"--{flag.replace('_', '-')} is for a chat LLM at an endpoint: pass "
                              f"--planner llm:MODEL@URL, got {name or 'the default planner'!r}")


def _planner_options(args: argparse.Namespace) -> dict[str, Any]:
    """The planner's options from the command line (:func:`get_planner`'s keywords)."""
    options: dict[str, Any] = {"refine": bool(args.refine)}
    if getattr(args, "style", False):
        options["style"] = True
        if getattr(args, "style_seconds", None) is not None:
            options["style_options"] = {"budget_seconds": args.style_seconds}
    elif getattr(args, "style_seconds", None) is not None:
        raise Llm2FxError("--style-seconds is the time budget of style mode: pass --style too")
    if getattr(args, "presence_guide", False):
        options["presence_guide"] = True
    if is_chat_planner(args.planner or ""):
        if getattr(args, "api_key_env", None):
            options["api_key_env"] = args.api_key_env
        if getattr(args, "attach_audio", False):
            options["attach_audio"] = True
        if getattr(args, "upload_audio", False):
            options["upload_audio"] = True
    refine_options: dict[str, Any] = {}
    if getattr(args, "refine_seconds", None) is not None:
        refine_options["budget_seconds"] = args.refine_seconds
    if getattr(args, "device", None) is not None:
        options["device"] = args.device
    if refine_options:
        options["refine_options"] = refine_options
    return options


def _planner(args: argparse.Namespace) -> Any:
    options = _planner_options(args)
    return default_planner(**options) if args.planner is None else get_planner(args.planner, **options)


#: How much of each clip ``llm2fx estimate`` reads, in seconds: every planner hears at most 30 s
#: (most 10), and an hour-long file would otherwise be held whole in memory.
ESTIMATE_SECONDS = 60.0


def _load_pair(dry_path: str, ref_path: str) -> tuple[Any, Any, float, list[str]]:
    """The pair's first :data:`ESTIMATE_SECONDS`, and a note for each clip that was longer."""
    notes = []
    clips = []
    for path in ([] if dry_path.lower() == "none" else [dry_path]) + [ref_path]:
        audio, sr = load_audio(path, max_seconds=ESTIMATE_SECONDS)
        total = audio_seconds(path)
        if total is not None and total > ESTIMATE_SECONDS + 1 / sr:
            notes.append(f"{Path(path).name} is {total:.1f} s long: the planner hears its first "
                         f"{ESTIMATE_SECONDS:g} s")
        clips.append((audio, sr))
    reference, sr = clips[-1]
    if len(clips) == 1:
        return None, reference, sr, notes
    dry, dry_sr = clips[0]
    if dry_sr != sr:
        dry = resample(dry, dry_sr, sr)
    return dry, reference, sr, notes


def cmd_estimate(args: argparse.Namespace) -> int:
    if args.out and args.dry.lower() == "none":
        raise Llm2FxError("--out renders the dry clip through the estimate; it needs a DRY file, not 'none'")
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise Llm2FxError(f"{args.out} exists; pass --overwrite to replace it")
    _check_planner_flags(args)
    if args.style and args.dry.lower() == "none":
        raise Llm2FxError("--style makes DRY sound like REFERENCE; it needs a DRY file, not 'none' (for blind "
                          "estimation leave out --style)")
    if args.chain and not args.instruction:
        raise Llm2FxError("--chain is the chain an --instruction edits: pass --instruction too (e.g. "
                          "--instruction 'remove the delay')")
    current = read_chain_file(args.chain) if args.chain else None
    dry, reference, sr, notes = _load_pair(args.dry, args.reference)
    planner = _planner(args)
    stream = plan_turn(planner, dry, reference, sr, instruction=args.instruction, chain=current)
    if args.json:
        result = collect(stream)
        body = result.to_json()
        if notes:
            body["input_notes"] = notes
        json.dump(body, sys.stdout, indent=None if args.compact else 2)
        sys.stdout.write("\n")
        chain = result.chain
    else:
        out = sys.stdout
        step = None
        chain = None
        if notes:
            out.write("[input]\n" + "".join(f"{n}.\n" for n in notes))
        for event in stream:
            if isinstance(event, Thinking):
                if event.step != step:
                    step = event.step
                    out.write(f"\n[{step}]\n")
                out.write(event.text)
            elif isinstance(event, ToolCallEvent):
                out.write(f"  -> tool call {event.index + 1}: {json.dumps(event.call.to_json(False))}\n")
            elif isinstance(event, Response):
                out.write(f"\n{event.text}\n")
            elif isinstance(event, Final):
                chain = event.chain
                t = event.timings
                first = "-" if t.first_token_seconds is None else f"{t.first_token_seconds:.2f} s"
                out.write(f"\nchain ({event.planner}, first text after {first}, total {t.total_seconds:.2f} s):\n")
                out.write(json.dumps(chain.to_tool_calls(), indent=2) + "\n")
                for repair in event.repairs:
                    out.write(f"repair: {repair}\n")
            out.flush()
    if args.out:
        render_file(args.dry, args.out, chain, args.tail_seconds, overwrite=args.overwrite)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from llm2fx_lab.data.cluster import ClusterConfig, connect
    from llm2fx_lab.planners.bench import load_pairs_folder, make_test_pairs, report_rows, run_bench

    _check_planner_flags(args)
    cluster = None
    if args.cluster or args.workers:
        if args.cluster and args.workers:
            raise Llm2FxError("--workers counts processes on this machine; with --cluster the cluster's workers do "
                              "the work: leave out one of the two")
        if args.planner is None:
            raise Llm2FxError(f"--{'cluster' if args.cluster else 'workers'} runs the planner in other processes, "
                              "which build it by name: pass --planner (e.g. --planner analysis)")
        cluster = ClusterConfig(address=args.cluster, workers=args.workers,
                                connect_timeout_seconds=args.connect_timeout_seconds)
        if cluster.address:
            connect(cluster).close()  # a cluster that cannot be used says so before the pairs are made
    if args.folder:
        pairs = load_pairs_folder(args.folder)
    else:
        if args.split != "test":
            raise Llm2FxError(f"--split must be 'test' (the LP-Fx-style test split), got {args.split!r}")
        pairs = make_test_pairs(args.per_length, seed=args.seed, seconds=args.seconds)
    score_options = {"audibility": not args.no_audibility, "audibility_crop_seconds": args.audibility_crop_seconds}
    if cluster is None:
        planner = _planner(args)
        name = planner.name
        summary, _, seconds = run_bench(planner, pairs, progress=True, **score_options)
    else:
        name = args.planner
        summary, _, seconds = run_bench(args.planner, pairs, progress=True, cluster=cluster,
                                        planner_options=_planner_options(args), **score_options)
    cols = ["method", "chain_length", "n_examples", "acc", "rank_corr", "mae", "mrs_l", "mrs_r",
            "audible_acc", "audible_order_acc"]
    print(summary[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    where = "" if cluster is None else f" on {cluster.describe()}"
    print(f"\n{name}: {sum(seconds) / len(seconds):.2f} s per example over {len(seconds)} examples{where}")
    if args.json:
        Path(args.json).write_text(json.dumps({"planner": name, "seconds": seconds,
                                               "rows": report_rows(summary)}, indent=2))
    return 0


def _chat_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-key-env", default=None, metavar="VAR",
                   help="for --planner llm:MODEL@URL: the environment variable that holds the endpoint's API key "
                        "(the key itself is never taken on the command line)")
    p.add_argument("--attach-audio", action="store_true",
                   help="for --planner llm:MODEL@URL: also send the clips as input_audio (audio-capable models)")
    p.add_argument("--upload-audio", action="store_true",
                   help="for --planner llm:MODEL@URL: send the clips once as uploaded files (POST /files) and name "
                        "them by id, as llm2fx serve takes them (faster than inline audio)")


def add_planner_parsers(subparsers: Any) -> None:
    """Add ``estimate`` and ``bench`` to an ``argparse`` subparsers object (the ``llm2fx`` CLI)."""
    names = ", ".join(PLANNER_NAMES) + "; each may end in +refine or +search"
    p = subparsers.add_parser("estimate", help="estimate the chain that turns DRY into REFERENCE",
                              description="Estimate the chain that turns DRY into REFERENCE. The planner hears "
                                          f"the first {ESTIMATE_SECONDS:g} s of each file (the output says so "
                                          "when a file is longer); --out renders the whole DRY file.")
    p.add_argument("dry", metavar="DRY", help="dry audio file, or 'none' for blind estimation")
    p.add_argument("reference", metavar="REFERENCE", help="processed (reference) audio file")
    p.add_argument("--planner", default=None, help=f"planner name ({names}); default: mini if present, else analysis")
    p.add_argument("--refine", action="store_true", help="refine the estimate by render -> measure -> refine")
    p.add_argument("--refine-seconds", type=float, default=None, help="time budget of the refinement")
    p.add_argument("--style", action="store_true",
                   help="style mode: REFERENCE is a different recording; match its sound (level, dynamics, width, "
                        "balance, decay, tone) instead of undoing a chain (docs/style.md)")
    p.add_argument("--style-seconds", type=float, default=None, help="time budget of style mode's search")
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--instruction", default=None,
                   help="an edit request, e.g. 'remove the delay', 'less reverb', 'delay 250 ms' (docs/edits.md): "
                        "it edits the --chain given, or else the estimate (a chat LLM reads it with the task)")
    p.add_argument("--chain", default=None, help="with --instruction: the chain JSON file the request edits (no "
                                                 "estimate is made)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")
    p.add_argument("--compact", action="store_true", help="with --json: on one line")
    p.add_argument("--out", default=None, help="render the whole DRY file through the estimate into this .wav/.flac")
    p.add_argument("--tail-seconds", type=float, default=0.0, help="tail appended when rendering --out")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--presence-guide", action="store_true", help=GUIDE_HELP)
    _chat_arguments(p)
    p.set_defaults(func=cmd_estimate)

    p = subparsers.add_parser("bench", help="benchmark a planner on LP-Fx-style test pairs")
    p.add_argument("--planner", default=None, help=f"planner name ({names})")
    p.add_argument("--refine", action="store_true", help="wrap the planner in refinement")
    p.add_argument("--refine-seconds", type=float, default=None, help="time budget of the refinement per example")
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--split", default="test", help="the generated split (only 'test')")
    p.add_argument("--per-length", type=int, default=100, help="pairs per chain length 1..9 (LP-Fx: 100)")
    p.add_argument("--seconds", type=float, default=None, help="crop dry clips to this length (default 10 s)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--folder", default=None, help="a folder of NAME.wav + NAME.json (chain) pairs instead")
    p.add_argument("--no-audibility", action="store_true", help="skip the audible-module/order metrics")
    p.add_argument("--audibility-crop-seconds", type=float, default=3.0)
    p.add_argument("--json", default=None, help="also write the summary rows to this JSON file")
    p.add_argument("--presence-guide", action="store_true", help=GUIDE_HELP)
    p.add_argument("--workers", type=int, default=None,
                   help="run the pairs on this many processes of this machine (default: this process)")
    p.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="run the pairs on the Dask cluster whose scheduler is at tcp://HOST:PORT (docs/cluster.md): "
                        "the scores are those of a run here")
    p.add_argument("--connect-timeout-seconds", type=float, default=10.0,
                   help="with --cluster: how long to wait for the scheduler and its first worker")
    _chat_arguments(p)
    p.set_defaults(func=cmd_bench)
