"""Chat planners: a lab planner through ``llm2fx serve``, the local-checkpoint backend, your LLM.

Pairs: the planners benchmark's generated test pairs, ``--per-length`` of each chain length
1..9 (10: 90 pairs; seed 1234), the first ``--seconds`` of each.

Rows
----
- ``mini`` in process, and ``llm:mini@URL``: the chat planner's endpoint backend talking to
  ``llm2fx serve --planner mini``, which this script starts on 127.0.0.1 as a subprocess; the
  clips are uploaded once per estimate as lossless float WAV (``upload_audio=True,
  audio_subtype="FLOAT"``: ``POST /v1/files``, then ``file`` parts by id). Each pair runs both
  ways back to back. The scores must be identical; the added latency per estimate is the median
  over the pairs of (through the server - in process) in total time, and in time to the first
  streamed reasoning text (targets, issue 31: <= 50 ms and <= 0.1 s). Two more legs send the
  clips inline as base64 ``input_audio`` instead (float, and the default 16-bit: half the bytes,
  not lossless), and the inline audio's own wire cost (encode, JSON, decode) is measured on one
  pair in the same run.
- ``hf:`` a tiny checkpoint (:func:`llm2fx_lab.lessons.reasoning.teach_chat_checkpoint`): a
  2-layer Qwen3 that learnt one conversation by heart (measure the pair, then a reverb). It
  measures the local-checkpoint path's cost; its scores say nothing about planning.
- ``--planner llm:MODEL@URL`` (repeatable): your own endpoint, e.g. Ollama's
  ``llm:qwen3:8b@http://localhost:11434/v1`` or a vLLM server; ``--api-key-env VAR`` names the
  variable holding its key, ``--attach-audio`` sends the clips to audio-capable models.

Each row also has the claim checker's coverage on its reasoning
(:func:`llm2fx_lab.analysis.check_claims` against ``compare(dry, reference)``): claims found per
pair, the share of them the Evidence could check, and the share of those it confirmed.

Run: ``.venv/bin/python benchmarks/chat.py [--per-length 10] [--planner llm:MODEL@URL ...]
[--no-hf] [--no-write]``. Writes the "chat" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import markdown_table, write_section  # noqa: E402
from llm2fx_lab.analysis import check_claims, compare, coverage  # noqa: E402
from llm2fx_lab.analysis.scoring import score_examples, summarize  # noqa: E402
from llm2fx_lab.audio.io import load_audio_bytes  # noqa: E402
from llm2fx_lab.events import PlanResult, collect  # noqa: E402
from llm2fx_lab.lessons.reasoning import teach_chat_checkpoint  # noqa: E402
from llm2fx_lab.planners import get_planner  # noqa: E402
from llm2fx_lab.planners.bench import make_test_pairs  # noqa: E402
from llm2fx_lab.planners.chat.backends import wav_base64  # noqa: E402


def start_server(planner: str) -> tuple[subprocess.Popen, str]:
    """``llm2fx serve --planner PLANNER`` on a free 127.0.0.1 port; returns it and its URL once it answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen([sys.executable, "-m", "llm2fx_lab.cli", "serve", "--planner", planner, "--port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2).close()
            return proc, url
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"llm2fx serve did not start: {proc.stderr.read()}") from None
            time.sleep(0.2)


def claim_stats(results: list[PlanResult], pairs: list[dict]) -> tuple[float, float, float]:
    """(claims found per pair, share checkable, share confirmed of checkable) over the pairs."""
    found = checked = confirmed = 0
    for result, pair in zip(results, pairs):
        checks = check_claims(result.reasoning, compare(pair["dry"], pair["reference_audio"], pair["sample_rate"]))
        c, f = coverage(checks)
        found, checked = found + f, checked + c
        confirmed += sum(x.verdict == "confirmed" for x in checks)
    return found / len(pairs), (checked / found if found else float("nan")), (
        confirmed / checked if checked else float("nan"))


def scores(results: list[PlanResult], pairs: list[dict], cache: dict) -> dict:
    table = summarize(score_examples(pairs, [r.chain for r in results], audibility_crop_seconds=3.0, calibration=False,
                                         cache=cache))
    return table[(table["chain_length"] == "all") & (table["method"] == "prediction")].iloc[0].to_dict()


def payload_ms(pair: dict, repeats: int = 5) -> dict[str, float]:
    """The cost of the audio in the wire format alone, in ms: encoding both clips as float WAV
    in base64, the request's JSON written and read (per request), decoding both on the server."""
    def best(fn) -> tuple[float, object]:
        times, out = [], None
        for _ in range(repeats):
            t = time.perf_counter()
            out = fn()
            times.append(1000 * (time.perf_counter() - t))
        return min(times), out

    clips = (pair["dry"], pair["reference_audio"])
    encode, data = best(lambda: [wav_base64(c, pair["sample_rate"], "FLOAT") for c in clips])
    body = {"model": "mini", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": d, "format": "wav"}} for d in data]}]}
    dumps, raw = best(lambda: json.dumps(body).encode())
    loads, _ = best(lambda: json.loads(raw))
    decode, _ = best(lambda: [load_audio_bytes(base64.b64decode(d, validate=True), "clip.wav") for d in data])
    return {"mb": len(raw) / 1e6, "encode": encode, "dumps": dumps, "loads": loads, "decode": decode,
            "total": encode + 2 * (dumps + loads) + decode}


def run(planner, pairs: list[dict], label: str) -> list[PlanResult]:
    return [collect(planner.plan(p["dry"], p["reference_audio"], p["sample_rate"])) for p in tqdm(pairs, desc=label)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-length", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--seconds", type=float, default=10.0, help="crop each dry clip to this length")
    parser.add_argument("--planner", action="append", default=[], metavar="llm:MODEL@URL",
                        help="also run your own endpoint (repeatable)")
    parser.add_argument("--api-key-env", default=None, metavar="VAR", help="the variable holding --planner's key")
    parser.add_argument("--attach-audio", action="store_true", help="send --planner the clips as input_audio")
    parser.add_argument("--no-hf", action="store_true", help="skip the tiny local-checkpoint row")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    for name in args.planner:
        if not name.startswith("llm:"):
            parser.error(f"--planner takes llm:MODEL@URL, got {name!r}")

    t0 = time.perf_counter()
    pairs = make_test_pairs(args.per_length, seed=args.seed, seconds=args.seconds)
    print(f"{len(pairs)} pairs made in {time.perf_counter() - t0:.0f} s", flush=True)
    cache: dict = {}
    rows: list[list[object]] = []

    def row(label: str, results: list[PlanResult], note: str = "") -> None:
        s = scores(results, pairs, cache)
        per_pair, checkable, confirmed = claim_stats(results, pairs)
        total = statistics.median(r.timings.total_seconds for r in results)
        rows.append([label, f"{s['acc']:.1%}", f"{s['rank_corr']:.2f}", f"{s['mae']:.3f}",
                     f"{s['mrs_l']:.2f} / {s['mrs_r']:.2f}", f"{total:.2f}", f"{per_pair:.1f}",
                     f"{checkable:.0%}", f"{confirmed:.0%}", note])

    # --- the mini, in process and through llm2fx serve, pair by pair back to back ------------
    local = get_planner("mini")
    proc, url = start_server("mini")
    legs = {"upload": {"upload_audio": True, "audio_subtype": "FLOAT"},
            "inline": {"attach_audio": True, "audio_subtype": "FLOAT"},
            "inline16": {"attach_audio": True}}  # the default subtype, 16-bit PCM
    try:
        remotes = {leg: get_planner(f"llm:mini@{url}", **options) for leg, options in legs.items()}
        for planner in (local, *remotes.values()):  # warm them all
            collect(planner.plan(pairs[0]["dry"], pairs[0]["reference_audio"], pairs[0]["sample_rate"]))
        here: list[PlanResult] = []
        there: dict[str, list[PlanResult]] = {leg: [] for leg in legs}
        for p in tqdm(pairs, desc="mini: in process / through llm2fx serve"):
            here.append(collect(local.plan(p["dry"], p["reference_audio"], p["sample_rate"])))
            for leg, planner in remotes.items():
                there[leg].append(collect(planner.plan(p["dry"], p["reference_audio"], p["sample_rate"])))
    finally:
        proc.terminate()
        proc.wait(30)
    same = {leg: sum(a.chain == b.chain for a, b in zip(here, results)) for leg, results in there.items()}
    added = {leg: 1000 * statistics.median(b.timings.total_seconds - a.timings.total_seconds
                                           for a, b in zip(here, results)) for leg, results in there.items()}
    p90 = 1000 * float(np.percentile([b.timings.total_seconds - a.timings.total_seconds
                                      for a, b in zip(here, there["upload"])], 90))
    first = {leg: 1000 * statistics.median(
        b.timings.first_token_seconds - a.timings.first_token_seconds for a, b in zip(here, results)
        if a.timings.first_token_seconds is not None and b.timings.first_token_seconds is not None)
        for leg, results in there.items()}
    payload = payload_ms(pairs[0])
    row("mini, in process", here)
    row("mini through `llm2fx serve`, clips uploaded once (`upload_audio=True`)", there["upload"],
        f"{same['upload']}/{len(pairs)} chains identical")
    row("mini through `llm2fx serve`, clips inline (float WAV in base64)", there["inline"],
        f"{same['inline']}/{len(pairs)} chains identical")
    row("mini through `llm2fx serve`, clips inline, 16-bit (the default subtype)", there["inline16"],
        f"{same['inline16']}/{len(pairs)} chains identical")
    for leg in legs:
        print(f"{leg}: identical chains {same[leg]}/{len(pairs)}; added latency median {added[leg]:.1f} ms; "
              f"first token median {first[leg]:+.1f} ms", flush=True)

    # --- the local-checkpoint backend ------------------------------------------------------
    if not args.no_hf:
        with tempfile.TemporaryDirectory(prefix="llm2fx-tiny-chat-") as tmp:
            t = time.perf_counter()
            p = pairs[0]
            path = teach_chat_checkpoint(Path(tmp) / "tiny", p["dry"], p["reference_audio"], p["sample_rate"])
            taught = time.perf_counter() - t
            row("`hf:` tiny checkpoint (replays one conversation)",
                run(get_planner(f"hf:{path}", max_new_tokens=80), pairs, "hf tiny"),
                f"taught in {taught:.0f} s; path cost only, not a planner")

    # --- your endpoints --------------------------------------------------------------------
    for name in args.planner:
        options = {"attach_audio": args.attach_audio}
        if args.api_key_env:
            options["api_key_env"] = args.api_key_env
        row(f"`{name}`", run(get_planner(name, **options), pairs, name))

    table = markdown_table(["planner", "Acc", "Rank Corr", "MAE", "MRS L/R", "s / estimate (median)",
                            "claims / pair", "checkable", "confirmed (of checkable)", "note"], rows)
    body = (
        f"{len(pairs)} generated test pairs ({args.per_length} per chain length 1..9, seed {args.seed}, "
        f"{args.seconds:g} s), scored as in the planners section.\n\n{table}\n\n"
        f"Through `llm2fx serve` (same machine, a subprocess), clips uploaded once per estimate as float WAV "
        f"(`upload_audio=True`): **{same['upload']}/{len(pairs)} chains identical** to in process; added latency "
        f"per estimate **{added['upload']:.0f} ms median** (p90 {p90:.0f} ms; target <= 50 ms); first streamed "
        f"reasoning text **{first['upload']:+.0f} ms median** later (target <= 100 ms). Sent inline as base64 "
        f"float WAV instead: {same['inline']}/{len(pairs)} identical, **{added['inline']:.0f} ms** added, first "
        f"text {first['inline']:+.0f} ms; inline 16-bit (the default subtype, for audio LLMs): "
        f"{same['inline16']}/{len(pairs)} identical, {added['inline16']:.0f} ms added. Inline, one estimate is "
        "two requests (the clips, then the tool results, which must carry the whole conversation again), each "
        f"about {payload['mb']:.1f} MB of base64 WAV in JSON; measured on one pair in this run: encoding the "
        f"clips {payload['encode']:.0f} ms, writing the request's JSON {payload['dumps']:.0f} ms and reading it "
        f"{payload['loads']:.0f} ms (each request), decoding the clips on the server {payload['decode']:.0f} ms: "
        f"**{payload['total']:.0f} ms** before any socket, server or model time. Uploaded, both requests are a "
        "few kB and the clips cross once, as multipart binary, decoded once by the server. The server sends "
        "the reasoning at most every 25 ms (what the planner wrote in between as one chunk) from a planner "
        "that runs on in its own thread: a chunk per token (about 400 per estimate) cost the client about "
        "0.1 ms each to read and paused the planner at every chunk.\n\n"
        "Add a row for your own model (no key: leave `--api-key-env` out):\n\n"
        "```\n.venv/bin/python benchmarks/chat.py --planner llm:qwen3:8b@http://localhost:11434/v1   # Ollama\n"
        "OPENAI_API_KEY=... .venv/bin/python benchmarks/chat.py --planner llm:Qwen/Qwen3-4B@http://gpu:8000/v1 "
        "--api-key-env OPENAI_API_KEY   # vLLM\n```\n\n"
        "Claims: `check_claims` on each planner's reasoning against the measured Evidence of the pair "
        "(numbers, and free prose: module present or absent, louder, brighter, wider, longer decay, echo time, "
        "pan); *checkable* is the share of the claims found that the Evidence can confirm or contradict.")
    print(body)
    if not args.no_write:
        print("wrote", write_section("chat", "Chat planners (llm2fx serve, local checkpoint, your LLM)", body))


if __name__ == "__main__":
    main()
