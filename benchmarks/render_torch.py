"""Torch renderer throughput against the CPU (pedalboard) renderer, in the same run.

A batch of 64 random full chains (all 9 modules, random order, random parameters from the
spec's sampler grid) over 10 s stereo 44.1 kHz clips (the bundled examples, cycled). Reports
seconds of audio rendered per second of wall time for the CPU renderer (one clip after the
other, as the studio renders) and for :func:`llm2fx_lab.fx.torch_render.render_torch` on each
device asked for, the ratio between them, peak memory, and the SNR of the torch output
against the CPU output.

Targets (issue #4): on one H100, >= 50x the CPU renderer; on the CPU, not slower per clip.

Run: ``.venv/bin/python benchmarks/render_torch.py [--devices cpu,cuda] [--json out.json]
[--merge other.json ...] [--no-write]``. ``--merge`` adds rows measured on another machine
(e.g. the GPU host) to the table; the section is written to docs/benchmarks.md unless
``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import machine, markdown_table, write_section  # noqa: E402
from llm2fx_lab.fx.render import render  # noqa: E402
from llm2fx_lab.fx.spec import MODULE_NAMES, TOOLSET  # noqa: E402

SR = 44100


def sampler_value(spec, rng: np.random.Generator) -> float:
    """A value from the official sampler's grid: min + step .. max (log-spaced for log scales)."""
    lo, hi = spec.minimum + spec.step, spec.maximum
    if spec.scale == "log":
        return float(min(np.round(np.exp(rng.uniform(np.log(lo), np.log(hi)))), hi))
    grid = np.minimum(np.round(np.arange(lo, hi + 1e-9, spec.step), 6), hi)
    return float(rng.choice(grid))


def random_full_chain(rng: np.random.Generator) -> list[dict]:
    order = rng.permutation(len(MODULE_NAMES))
    return [{"name": MODULE_NAMES[i],
             "arguments": {p.name: sampler_value(p, rng) for p in TOOLSET[MODULE_NAMES[i]].params}}
            for i in order]


def clips(batch: int, seconds: float) -> np.ndarray:
    n = int(seconds * SR)
    try:
        from llm2fx_lab.examples import list_examples, load_example

        names = list_examples()
        pool = [load_example(name)[0] for name in names]
        pool = [a[:, :n] for a in pool if a.shape[1] >= n]
    except Exception:  # noqa: BLE001 - no examples (or no soundfile) here: use noise bursts
        pool = []
    if not pool:
        rng = np.random.default_rng(0)
        env = np.exp(-(np.arange(n) % (SR // 2)) / (0.1 * SR))
        pool = [(0.3 * rng.standard_normal((2, n)) * env).astype(np.float32) for _ in range(4)]
    return np.stack([pool[i % len(pool)] for i in range(batch)]).astype(np.float32)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_cpu(x: np.ndarray, chains: list, repeats: int) -> tuple[float, list[np.ndarray]]:
    outs = [render(x[i], SR, chains[i]) for i in range(min(2, len(chains)))]  # warm up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        outs = [render(x[i], SR, chains[i]) for i in range(len(chains))]
        best = min(best, time.perf_counter() - t0)
    return best, outs


def bench_torch(x: np.ndarray, chains: list, device: str, repeats: int, chunk: int) -> tuple[float, float, np.ndarray]:
    import torch

    from llm2fx_lab.fx.torch_render import render_torch

    def run() -> list:
        outs = []
        for s in range(0, len(chains), chunk):
            xs = torch.from_numpy(x[s:s + chunk]).to(device)
            with torch.no_grad():
                outs.append(render_torch(xs, SR, chains[s:s + chunk], device=device))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return outs

    run()  # warm up: kernel compilation, FFT plans, caches
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        outs = run()
        best = min(best, time.perf_counter() - t0)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else peak_rss_mb())
    y = torch.cat([o.cpu() for o in outs]).numpy()
    return best, peak, y


def profile_modules(x: np.ndarray, chains: list, device: str) -> dict[str, float]:
    """Seconds per module over the whole batch (each chain holds all nine), after a warm-up."""
    import torch

    from llm2fx_lab.fx.chain import as_chain
    from llm2fx_lab.fx.torch_render import MODULE_FUNCTIONS

    parsed = [as_chain(c) for c in chains]
    xt = torch.from_numpy(x).to(device)
    out = {}
    for name, fn in MODULE_FUNCTIONS.items():
        params = {p: torch.tensor([c[name][p] for c in parsed], device=device)
                  for p in TOOLSET[name].param_names}
        with torch.no_grad():
            fn(xt, SR, **params)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn(xt, SR, **params)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
        out[name] = time.perf_counter() - t0
    return out


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    err = float(np.sum((ref.astype(np.float64) - est) ** 2))
    return float("inf") if err == 0 else 10 * np.log10(float(np.sum(ref.astype(np.float64) ** 2)) / err)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--devices", default="auto", help="comma list: cpu, cuda; auto = cpu plus cuda if present")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cpu-chunk", type=int, default=8, help="torch-on-CPU sub-batch size (memory)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--merge", type=Path, action="append", default=[], help="results JSON from another machine")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--profile", action="store_true", help="also time each module on the whole batch")
    ap.add_argument("--note", default="", help="a paragraph added to the section (e.g. context of merged runs)")
    args = ap.parse_args()

    import torch

    devices = args.devices.split(",") if args.devices != "auto" else (
        ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    rng = np.random.default_rng(2026)
    chains = [random_full_chain(rng) for _ in range(args.batch)]
    x = clips(args.batch, args.seconds)
    audio_seconds = args.batch * args.seconds

    cpu_time, cpu_outs = bench_cpu(x, chains, max(1, args.repeats - 1))
    ref = np.stack(cpu_outs)
    here = machine()
    rows = [{"machine": here, "renderer": "CPU renderer (pedalboard), clip by clip",
             "device": "cpu", "batch": 1, "seconds": cpu_time, "audio_per_s": audio_seconds / cpu_time,
             "ratio": 1.0, "peak_mb": peak_rss_mb(), "snr_min": None, "snr_median": None}]
    for dev in devices:
        chunk = args.batch if dev.startswith("cuda") else args.cpu_chunk
        t, peak, y = bench_torch(x, chains, dev, args.repeats, chunk)
        snrs = [snr_db(ref[i], y[i]) for i in range(args.batch)]
        name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu"
        extra = {}
        if dev.startswith("cuda"):
            from llm2fx_lab.fx.torch_dynamics import LAST_CUDA_KERNEL

            extra["envelope_kernel"] = ",".join(LAST_CUDA_KERNEL)
        if args.profile:
            extra["modules_s"] = profile_modules(x[:chunk], chains[:chunk], dev)
        rows.append({**extra,"machine": here, "renderer": f"torch render_torch (batch {chunk})", "device": name,
                     "batch": chunk, "seconds": t, "audio_per_s": audio_seconds / t,
                     "ratio": cpu_time / t, "peak_mb": peak,
                     "snr_min": float(np.min(snrs)), "snr_median": float(np.median(snrs))})
    for line in rows:
        print(json.dumps(line), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    merged = [r for path in args.merge for r in json.loads(path.read_text())]
    if not args.no_write:
        write(rows, merged, args)


def write(rows: list[dict], merged: list[dict], args) -> None:
    def table(results: list[dict]) -> str:
        return markdown_table(
            ["renderer", "device", f"wall s ({args.batch} clips)", "audio s per s", "x CPU renderer", "peak memory MiB",
             "SNR vs CPU min / median dB"],
            [[r["renderer"] + (f" (envelope: {r['envelope_kernel']})" if r.get("envelope_kernel") else ""),
              r["device"], r["seconds"], r["audio_per_s"], r["ratio"], r["peak_mb"],
              "-" if r["snr_min"] is None else f"{r['snr_min']:.1f} / {r['snr_median']:.1f}"] for r in results])

    body = [f"Batch of {args.batch} random full chains (9 modules, random order, sampler-grid "
            f"parameters), {args.seconds:g} s stereo 44.1 kHz clips; best of {args.repeats} runs after a "
            "warm-up. Ratios compare with the CPU renderer timed in the same run on the same machine. "
            "Peak memory: GPU `max_memory_allocated` on CUDA, process peak RSS on the CPU. Targets: "
            ">= 50x on one H100; on the CPU not slower per clip. "
            f"1-minute load average at the end "
            f"of the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.", "", table(rows)]
    groups: dict[str, list[dict]] = {}
    for r in merged:
        groups.setdefault(r["machine"], []).append(r)
    for host, results in groups.items():
        body += ["", f"Measured on another machine: {host}", "", table(results)]
    profiled = [r for r in rows + merged if r.get("modules_s")]
    if profiled:
        body += ["", "Seconds per module over one torch sub-batch (the batch size above):", "",
                 markdown_table(["device", *TOOLSET], [[r["device"], *(r["modules_s"][m] for m in TOOLSET)]
                                                       for r in profiled])]
    if not any("cuda" in r["renderer"] or r["device"] != "cpu" for r in rows + merged):
        body += ["", "GPU figures: pending (no CUDA device was available for this run)."]
    if args.note:
        body += ["", args.note]
    write_section("render_torch", "Torch renderer (render_torch) vs CPU renderer", "\n".join(body))


if __name__ == "__main__":
    main()
