"""Model speed: training steps/s and generation tokens/s (tiny and mini on CPU; Qwen3-4B on a GPU).

Run: ``.venv/bin/python benchmarks/model.py [--threads N] [--gpu-json FILE]``. Writes the "model" section of
docs/benchmarks.md.

- CPU, presets ``tiny`` and ``mini`` (random weights, synthetic dialogues): stage-2 training
  steps per second (the preset's batch, capped at 8) and greedy generation tokens per second
  (batch 1, 64 new tokens forced, audio spliced in) with transformers' ``generate`` and with the
  project's fast decoder (``llm2fx_lab.model.decode``), as a ratio from the same run; then the
  shipped mini's full streamed estimate of the bundled guitar pair with both decoders. ``mini`` is measured with and without the
  pair-comparison tokens (their cost; their effect on accuracy needs a trained model).
- GPU (``--gpu-only --json FILE`` on a CUDA machine, then ``--gpu-json FILE`` here to put the
  figures in the report): a randomly initialised Qwen3-4B (``Qwen3Config`` with the 4B sizes,
  bf16): generation tokens/s for one stream and for a batch of 16, and the stage-2 step (LoRA
  rank 128 / alpha 256 on all projections, gradient checkpointing, the 6x12 adapter on
  Fx-Encoder++-sized features), with peak memory. The GPU part imports only transformers, peft
  and ``llm2fx_lab.model.{config,adapter}`` so it runs on a bare GPU image.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

SR = 44100


# ---- CPU: tiny and mini -----------------------------------------------------------------------

def synthetic_dialogues(n: int, seconds: float, seed: int = 0):
    from llm2fx_lab.data.chains import sample_chain
    from llm2fx_lab.model.inputs import Dialogue

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    out = []
    for i in range(n):
        dry = (0.3 * np.sin(2 * np.pi * 110 * 2 ** (i / 3) * t))[None].repeat(2, 0).astype(np.float32)
        chain = sample_chain(int(rng.integers(1, 4)), rng)
        out.append(Dialogue(reference=dry * 0.5, dry=dry, chain=chain, reasoning="Selection: " + ", ".join(chain.names),
                            response="Done."))
    return out


def cpu_case(name: str, **overrides) -> dict:
    from llm2fx_lab.model.config import preset
    from llm2fx_lab.model.inputs import Collator, corpus_texts, prompt_text
    from llm2fx_lab.model.llm import Llm2FxModel
    from llm2fx_lab.model.tokenizer import train_tokenizer

    cfg = preset(name, **overrides)
    batch = min(cfg.train.batch_size, 8)
    ds = synthetic_dialogues(max(batch, 8), cfg.encoder.clip_seconds)
    tok = train_tokenizer(corpus_texts(ds, cfg), cfg.tokenizer_vocab_size)
    torch.manual_seed(0)
    model = Llm2FxModel(cfg, tok)
    model.set_stage(2)
    b = Collator(tok, cfg)(ds[:batch])
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4)

    def step():
        model(**b)["loss"].backward()
        opt.step()
        opt.zero_grad()

    step()
    n, t0 = 3, time.perf_counter()
    for _ in range(n):
        step()
    train_s = (time.perf_counter() - t0) / n
    model.eval()
    ids = tok(prompt_text(cfg, None, True), add_special_tokens=False, return_tensors="pt")["input_ids"]
    new = 64
    with torch.no_grad():
        audio = model.audio_embeddings(b["reference"][:1], b["dry"][:1], torch.tensor([True]))
        emb = model.inputs_embeds(ids, audio, torch.tensor([True]))
        kw = dict(inputs_embeds=emb, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                  do_sample=False, pad_token_id=tok.pad_token_id)
        model.llm.generate(**{**kw, "max_new_tokens": 4, "min_new_tokens": 4})
        t0 = time.perf_counter()
        model.llm.generate(**kw)
        gen_s = time.perf_counter() - t0
    from llm2fx_lab.model.decode import greedy_generate

    greedy_generate(model.llm, emb, 4, eos_id=-1)  # builds the fused weights once
    t0 = time.perf_counter()
    assert len(greedy_generate(model.llm, emb, new, eos_id=-1)) == new
    fast_s = time.perf_counter() - t0
    return {"preset": name + (" + pair tokens" if cfg.encoder.pair_tokens else ""),
            "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
            "batch": batch, "seq_len": int(b["input_ids"].shape[1]), "prompt_tokens": int(ids.shape[1]),
            "train_steps_per_s": 1 / train_s, "train_tokens_per_s": int(b["attention_mask"].sum()) / train_s,
            "gen_tokens_per_s": new / gen_s, "fast_tokens_per_s": new / fast_s}


def shipped_latency(n: int = 3) -> dict:
    """The shipped mini on the bundled 10 s guitar pair, both decoders: medians of ``n`` full estimates."""
    from llm2fx_lab.examples import example_pair
    from llm2fx_lab.model.generate import estimate_stream, load_planner_model
    from llm2fx_lab.model.mini import mini_weights_dir

    model = load_planner_model(mini_weights_dir()).model
    dry, wet, sr, _ = example_pair("guitar")
    out: dict = {"threads": torch.get_num_threads()}
    for decoder in ("hf", "fast"):
        list(estimate_stream(model, dry, wet, sample_rate=sr, decoder=decoder))  # warm-up
        runs = [list(estimate_stream(model, dry, wet, sample_rate=sr, decoder=decoder))[-1] for _ in range(n)]
        out[decoder] = {"first_token_s": float(np.median([r.timings.first_token_seconds for r in runs])),
                        "total_s": float(np.median([r.timings.total_seconds for r in runs])),
                        "tokens": runs[-1].timings.tokens, "reasoning": runs[-1].reasoning}
    out["same_text"] = out["hf"].pop("reasoning") == out["fast"].pop("reasoning")
    return out


# ---- ablation: pair-comparison tokens on a task that needs subtraction -----------------------

def gain_dialogues(n: int, seed: int):
    """Noise at a random level (-30..-6 dB); the reference is it with a gain of -12..12 dB."""
    from llm2fx_lab.fx.chain import Chain
    from llm2fx_lab.model.inputs import Dialogue

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        level = 10 ** (rng.uniform(-30, -6) / 20)
        dry = (rng.standard_normal((2, SR // 2)) * level).astype(np.float32)
        g = int(rng.choice([v for v in range(-12, 13) if v]))
        chain = Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": g}}])
        out.append(Dialogue(reference=dry * np.float32(10 ** (g / 20)), dry=dry, chain=chain,
                            instruction="Match it.", reasoning="Selection: gain.", response="Done."))
    return out


def pair_ablation(n_train: int = 64, n_test: int = 24, steps: int = 400) -> list[dict]:
    """Train tiny with and without pair tokens on gain-only pairs; gain_db error on held-out pairs."""
    import tempfile

    from llm2fx_lab.model.config import preset
    from llm2fx_lab.model.generate import estimate_stream
    from llm2fx_lab.model.inputs import corpus_texts
    from llm2fx_lab.model.llm import Llm2FxModel
    from llm2fx_lab.model.tokenizer import train_tokenizer
    from llm2fx_lab.model.train import train

    train_set, test_set = gain_dialogues(n_train, 1), gain_dialogues(n_test, 2)
    rows = []
    for pair in (False, True):
        cfg = preset("tiny", encoder={"clip_seconds": 0.5, "pair_tokens": pair, "n_pair_queries": 4},
                     train={"stage2_steps": steps})
        tok = train_tokenizer(corpus_texts(train_set, cfg), cfg.tokenizer_vocab_size)
        torch.manual_seed(0)
        model = Llm2FxModel(cfg, tok)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            train(model, train_set, out, progress=False)
        seconds = time.perf_counter() - t0
        model.eval()
        errors = []
        for d in test_set:
            final = list(estimate_stream(model, d.dry, d.reference, d.instruction, max_new_tokens=60))[-1]
            got = final.chain.to_tool_calls()
            errors.append(abs(got[0]["arguments"]["gain_db"] - d.chain[0]["gain_db"])
                          if got and got[0]["name"] == "gain" else 24.0)
        rows.append({"pair_tokens": pair, "mae_db": float(np.mean(errors)),
                     "exact": float(np.mean([e == 0 for e in errors])), "train_s": seconds})
    return rows


# ---- GPU: Qwen3-4B, random init, bf16 ---------------------------------------------------------

def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens two generations share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def gpu_case() -> dict:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Qwen3Config

    from llm2fx_lab.model.adapter import QueryAdapter
    from llm2fx_lab.model.config import preset

    cfg = preset("qwen3-4b")
    lc = cfg.llm
    dev = torch.device("cuda")
    qcfg = Qwen3Config(vocab_size=lc.vocab_size, hidden_size=lc.hidden_size, num_hidden_layers=lc.n_layers,
                       num_attention_heads=lc.n_heads, num_key_value_heads=lc.n_kv_heads, head_dim=lc.head_dim,
                       intermediate_size=lc.intermediate_size, max_position_embeddings=lc.max_position_embeddings,
                       tie_word_embeddings=True, eos_token_id=None, pad_token_id=0)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.device(dev):
        llm = AutoModelForCausalLM.from_config(qcfg, dtype=torch.bfloat16)
    llm.eval()
    res: dict = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__,
                 "params_B": sum(p.numel() for p in llm.parameters()) / 1e9,
                 "init_s": time.perf_counter() - t0}
    prompt, new = 1200, 128  # ~ Qwen3 tokens of system prompt with the 9 tool schemas + audio + instruction
    emb_table = llm.get_input_embeddings()

    def gen(batch: int) -> tuple[float, list[int], torch.Tensor]:
        ids = torch.randint(10, lc.vocab_size, (batch, prompt), device=dev)
        with torch.no_grad():
            emb = emb_table(ids)
            kw = dict(inputs_embeds=emb, attention_mask=torch.ones_like(ids), do_sample=False, pad_token_id=0)
            llm.generate(**kw, max_new_tokens=8, min_new_tokens=8)
            torch.cuda.synchronize()
            t = time.perf_counter()
            out = llm.generate(**kw, max_new_tokens=new, min_new_tokens=new)
            torch.cuda.synchronize()
        return batch * new / (time.perf_counter() - t), out[0, -new:].tolist(), emb[:1]

    torch.cuda.reset_peak_memory_stats()
    res["gen_tokens_per_s_batch1"], hf_tokens, emb1 = gen(1)
    res["gen_tokens_per_s_batch16"] = gen(16)[0]
    res["gen_peak_GiB"] = torch.cuda.max_memory_allocated() / 2**30
    # the project's fast greedy decoder (fused weights, preallocated KV cache) on the same prompt
    from llm2fx_lab.model.decode import greedy_generate

    def fast(graphs: bool) -> tuple[float, list[int]]:
        os.environ["LLM2FX_CUDA_GRAPHS"] = "1" if graphs else "0"
        try:
            with torch.no_grad():
                greedy_generate(llm, emb1, 8, eos_id=-1)  # warm-up; builds the fused weights once
                torch.cuda.synchronize()
                t = time.perf_counter()  # a graph is captured per sequence: its cost is in the timing
                tokens = greedy_generate(llm, emb1, new, eos_id=-1)
                torch.cuda.synchronize()
        finally:
            os.environ.pop("LLM2FX_CUDA_GRAPHS", None)
        return new / (time.perf_counter() - t), tokens

    res["fast_eager_tokens_per_s_batch1"], eager_tokens = fast(graphs=False)
    res["fast_tokens_per_s_batch1"], fast_tokens = fast(graphs=True)
    res["fast_graph_same_prefix_tokens"] = common_prefix(fast_tokens, eager_tokens)
    res["fast_same_prefix_tokens"] = common_prefix(fast_tokens, hf_tokens)  # bf16: a near-tie can flip a token
    res["fast_peak_GiB"] = torch.cuda.max_memory_allocated() / 2**30
    object.__setattr__(llm, "_llm2fx_decoder", None)  # free the fused copy before training
    torch.cuda.empty_cache()
    # stage 2: LoRA r128/alpha 256, gradient checkpointing, adapter on Fx-Encoder++-sized features
    llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    llm.train()
    llm = get_peft_model(llm, LoraConfig(r=lc.lora_rank, lora_alpha=lc.lora_alpha, lora_dropout=0.0,
                                         target_modules=list(lc.lora_targets), task_type="CAUSAL_LM"))
    adapter = QueryAdapter(cfg.adapter, 2048, lc.hidden_size).to(dev)
    params = [p for p in llm.parameters() if p.requires_grad] + list(adapter.parameters())
    res["trainable_M"] = sum(p.numel() for p in params) / 1e6
    opt = torch.optim.AdamW(params, lr=5e-5)
    batch, seq = 4, 1536
    ids = torch.randint(10, lc.vocab_size, (batch, seq), device=dev)
    labels = ids.clone()
    labels[:, :1200] = -100
    feats = torch.randn(2 * batch, 52, 2048, device=dev)  # dry + reference, 10 s of Fx-Encoder++ frames

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            audio = adapter(feats).reshape(batch, 64, -1)
            emb = llm.get_input_embeddings()(ids)
            emb = torch.cat([emb[:, :10], audio.to(emb.dtype), emb[:, 74:]], 1)
            loss = llm(inputs_embeds=emb, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    n, t = 5, time.perf_counter()
    for _ in range(n):
        step()
    torch.cuda.synchronize()
    res.update(stage2_batch=batch, stage2_seq=seq, stage2_step_s=(time.perf_counter() - t) / n,
               stage2_peak_GiB=torch.cuda.max_memory_allocated() / 2**30)
    return res


# ---- report ------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpu-only", action="store_true", help="run only the Qwen3-4B GPU part")
    ap.add_argument("--json", help="write the results here as JSON")
    ap.add_argument("--gpu-json", help="GPU results from a --gpu-only run to include in the report")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy 2-core machine)")
    args = ap.parse_args()
    if args.gpu_only:
        res = gpu_case()
        print(json.dumps(res, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2))
        return

    from benchmarks._report import markdown_table, write_section

    lat = shipped_latency()  # at torch's default thread count, as a user runs it
    print(lat)
    torch.set_num_threads(args.threads)
    rows = [cpu_case("tiny"), cpu_case("mini", encoder={"pair_tokens": False}), cpu_case("mini")]
    for r in rows:
        print(r)
    body = ["CPU, random weights, synthetic dialogues; stage-2 training step (full fine-tuning for these "
            "presets, AdamW) and greedy generation of 64 forced tokens with the audio spliced in "
            f"({torch.get_num_threads()} thread{'s' if torch.get_num_threads() != 1 else ''}; the machine is shared, so treat the numbers as rough).", "",
            markdown_table(["preset", "params (M)", "batch", "seq len", "train steps/s", "train tokens/s",
                            "prompt tokens", "generate tokens/s", "fast decoder tokens/s", "ratio"],
                           [[r["preset"], r["params_M"], r["batch"], r["seq_len"], r["train_steps_per_s"],
                             r["train_tokens_per_s"], r["prompt_tokens"], r["gen_tokens_per_s"],
                             r["fast_tokens_per_s"], r["fast_tokens_per_s"] / r["gen_tokens_per_s"]] for r in rows]),
            "", "\"generate\" is transformers' `generate`; the fast decoder is "
            "`llm2fx_lab.model.decode.greedy_generate` (fused weights, one preallocated KV cache; the same tokens, "
            "tested), the default for greedy decoding.", "",
            f"Shipped llm2fx-mini, full streamed estimate of the bundled 10 s guitar pair (median of 3, "
            f"{lat['threads']} threads, the default): transformers' `generate` {lat['hf']['total_s']:.2f} s "
            f"(first token {lat['hf']['first_token_s']:.2f} s), fast decoder {lat['fast']['total_s']:.2f} s "
            f"(first token {lat['fast']['first_token_s']:.2f} s), {lat['hf']['total_s'] / lat['fast']['total_s']:.2f}x; "
            f"{lat['fast']['tokens']} tokens; same text: {'yes' if lat['same_text'] else 'NO'}.",
            "", "Pair-comparison tokens, cost: "
            f"{rows[2]['train_steps_per_s'] / rows[1]['train_steps_per_s']:.2f}x the training speed and "
            f"{rows[2]['gen_tokens_per_s'] / rows[1]['gen_tokens_per_s']:.2f}x the generation speed of mini "
            "without them (they add 9 prompt positions and one comparison pass per request, so a ratio "
            "above 1 is the noise of the shared machine)."]
    abl = pair_ablation()
    for r in abl:
        print(r)
    body += ["", "Pair-comparison tokens, effect (a small task that needs subtraction): the tiny preset "
             "trained (20 + 400 steps) on 64 pairs of noise at a random level (-30..-6 dB) and the same "
             "noise with a gain of -12..12 dB, then asked for the gain of 24 held-out pairs (greedy). "
             "The effect on the full task needs a trained mini model (pending).", "",
             markdown_table(["pair tokens", "gain_db MAE (dB)", "exact gain", "training time (s)"],
                            [["yes" if r["pair_tokens"] else "no", r["mae_db"], r["exact"], r["train_s"]]
                             for r in abl])]
    if args.gpu_json and Path(args.gpu_json).is_file():
        g = json.loads(Path(args.gpu_json).read_text())
        body += ["", f"GPU: {g['card']} (torch {g['torch']}), randomly initialised Qwen3-4B "
                 f"({g['params_B']:.2f} B parameters) in bf16, prompt 1200 tokens (as inputs_embeds), 128 new tokens, greedy:",
                 "", markdown_table(["measure", "value"], [
                     ["generate, 1 stream (tokens/s)", g["gen_tokens_per_s_batch1"]],
                     ["generate, batch 16 (tokens/s, all streams)", g["gen_tokens_per_s_batch16"]],
                     ["generation peak memory (GiB)", g["gen_peak_GiB"]],
                     *([["fast decoder without CUDA graphs, 1 stream (tokens/s)",
                         g["fast_eager_tokens_per_s_batch1"]],
                        ["fast decoder: leading tokens equal with and without CUDA graphs (of 128)",
                         g["fast_graph_same_prefix_tokens"]]]
                       if "fast_eager_tokens_per_s_batch1" in g else []),
                     *([["fast decoder, 1 stream (tokens/s)", g["fast_tokens_per_s_batch1"]],
                        ["fast decoder / generate, 1 stream", g["fast_tokens_per_s_batch1"] / g["gen_tokens_per_s_batch1"]],
                        ["fast decoder: leading tokens equal to generate's (of 128)", g["fast_same_prefix_tokens"]],
                        ["peak memory with the fast decoder's fused copy (GiB)", g["fast_peak_GiB"]]]
                       if "fast_tokens_per_s_batch1" in g else []),
                     [f"stage-2 step, batch {g['stage2_batch']} x {g['stage2_seq']} tokens, LoRA r128 + "
                      "6x12 adapter, grad. checkpointing (s)", g["stage2_step_s"]],
                     ["stage-2 trainable parameters (M)", g["trainable_M"]],
                     ["stage-2 peak memory (GiB)", g["stage2_peak_GiB"]]]),
                 "", "GPU figures from `python3 benchmarks/model.py --gpu-only --json gpu.json` on that card. "
                 "Generation is transformers' eager `generate` (dynamic KV cache, no compilation): about "
                 f"{1000 * 128 / g['gen_tokens_per_s_batch1'] / 128:.0f} ms per decoding step whether 1 or 16 streams, "
                 "so it is bound by the host launching kernels, not by the GPU (reading the 8 GB of weights once "
                 "takes about 2 ms at the card's bandwidth); a static cache with `torch.compile`, CUDA graphs or a "
                 "serving engine is the way to faster single-stream decoding."]
        if "fast_tokens_per_s_batch1" in g:
            if "fast_eager_tokens_per_s_batch1" in g:
                body += ["", "The fast decoder replays each step as one CUDA graph (captured once per sequence, "
                         "its capture counted in the timing): about "
                         f"{1000 / g['fast_tokens_per_s_batch1']:.0f} ms per step against "
                         f"{1000 / g['fast_eager_tokens_per_s_batch1']:.0f} ms when the same step launches its "
                         f"kernels one by one from Python and {1000 / g['gen_tokens_per_s_batch1']:.0f} ms with "
                         "`generate`."]
            else:
                body += ["", "The fast decoder (eager steps) removes `generate`'s Python overhead but still launches "
                         f"every kernel from Python: about {1000 / g['fast_tokens_per_s_batch1']:.0f} ms per step "
                         f"against {1000 / g['gen_tokens_per_s_batch1']:.0f} ms, host-bound as well."]
            body += ["In bf16 a near-tie between "
                     "two logits (common with random weights) can pick another token, because the fused matrices "
                     "(and, in the graph, attention over the whole masked cache) round differently; from there "
                     "the texts part. On the same card in float32, the GPU test "
                     "(`tests/model/test_decode.py`) finds the same logits (1e-3) and the same tokens as `generate`, with and without graphs."]
    else:
        body += ["", "GPU (Qwen3-4B, bf16): pending; run `python benchmarks/model.py --gpu-only --json g.json` "
                 "on a CUDA machine, then this script with `--gpu-json g.json`."]
    write_section("model", "Model: training and generation speed", "\n".join(body))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
