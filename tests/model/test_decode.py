"""The fast greedy decoder computes what transformers' Qwen3 computes, and generates the same text."""

import pytest
import torch

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.model.decode import Qwen3Decoder, decoder_for, greedy_generate, unsupported_reason


def random_qwen3(n_heads=4, n_kv=2, seed=0):
    from transformers import AutoModelForCausalLM

    from llm2fx_lab.model.config import LLMConfig
    from llm2fx_lab.model.llm import qwen3_config

    torch.manual_seed(seed)
    cfg = LLMConfig(hidden_size=64, n_layers=3, n_heads=n_heads, n_kv_heads=n_kv, head_dim=16,
                    intermediate_size=96, max_position_embeddings=256)
    llm = AutoModelForCausalLM.from_config(qwen3_config(cfg, vocab_size=300, eos_id=7, pad_id=0)).eval()
    with torch.no_grad():  # norms away from 1 so that a wrong norm shows
        for name, p in llm.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return llm


@pytest.mark.parametrize("n_heads,n_kv", [(4, 2), (4, 4), (2, 1)])
def test_logits_match_transformers_at_every_step(n_heads, n_kv):
    llm = random_qwen3(n_heads, n_kv)
    embeds = torch.randn(1, 9, 64)
    tokens = [5, 42, 299, 0, 17, 17]
    dec = Qwen3Decoder(llm)
    got = [dec.prefill(embeds, 9 + len(tokens))]
    got += [dec.step(t) for t in tokens[:-1]]
    with torch.no_grad():
        full = torch.cat([embeds, llm.get_input_embeddings()(torch.tensor([tokens[:-1]]))], dim=1)
        want = llm(inputs_embeds=full).logits[0, 8:]
    assert torch.allclose(torch.cat(got), want, atol=1e-4, rtol=1e-4), (torch.cat(got) - want).abs().max()


def test_greedy_tokens_equal_generate():
    llm = random_qwen3()
    embeds = torch.randn(1, 11, 64)
    with torch.no_grad():
        want = llm.generate(inputs_embeds=embeds, attention_mask=torch.ones(1, 11, dtype=torch.long),
                            max_new_tokens=25, do_sample=False, eos_token_id=7, pad_token_id=0)[0].tolist()
    got = greedy_generate(llm, embeds, 25, eos_id=7)
    assert got == want and len(got) >= 2


def test_stops_on_eos_limit_and_request_and_streams_each_token():
    llm = random_qwen3()
    embeds = torch.randn(1, 5, 64)
    free = greedy_generate(llm, embeds, 12, eos_id=-1)
    assert len(free) == 12
    # the first token taken as end of message: it is emitted, then generation ends
    assert greedy_generate(llm, embeds, 12, eos_id=[free[0], 999]) == free[:1]
    seen = []
    out = greedy_generate(llm, embeds, 12, eos_id=-1, should_stop=lambda: len(seen) >= 3, on_token=seen.append)
    assert out == seen == free[:3]


def test_logits_processor_sees_generated_ids_and_can_force_tokens():
    llm = random_qwen3()
    calls = []

    def force_eos_after_two(ids, scores):
        calls.append(ids.shape[1])
        if ids.shape[1] == 2:
            scores = torch.full_like(scores, -float("inf"))
            scores[0, 7] = 0.0
        return scores

    out = greedy_generate(llm, torch.randn(1, 4, 64), 20, eos_id=7, logits_processor=force_eos_after_two)
    assert calls == [0, 1, 2] and out[-1] == 7 and len(out) == 3


def test_weight_changes_rebuild_the_decoder():
    llm = random_qwen3()
    embeds = torch.randn(1, 6, 64)
    first = decoder_for(llm)
    assert decoder_for(llm) is first
    with torch.no_grad():
        llm.model.layers[1].mlp.down_proj.weight.mul_(3.0)
        want = llm(inputs_embeds=embeds).logits[0, -1]
    second = decoder_for(llm)
    assert second is not first
    assert torch.allclose(second.prefill(embeds, 8)[0], want, atol=1e-4)


def test_thread_count_is_restored():
    before = torch.get_num_threads()
    greedy_generate(random_qwen3(), torch.randn(1, 3, 64), 4, eos_id=-1)
    assert torch.get_num_threads() == before


def test_what_it_does_not_cover_is_named():
    llm = random_qwen3()
    assert unsupported_reason(llm) is None
    llm.generation_config.repetition_penalty = 1.3
    assert "repetition_penalty" in unsupported_reason(llm)
    with pytest.raises(Llm2FxError, match="repetition_penalty.*decoder='hf'"):
        Qwen3Decoder(llm)
    from peft import LoraConfig, get_peft_model

    wrapped = get_peft_model(random_qwen3(), LoraConfig(r=4, target_modules=["q_proj"]))
    assert "peft" in unsupported_reason(wrapped)
    assert "not a Qwen3ForCausalLM" in unsupported_reason(torch.nn.Linear(2, 2))
    with pytest.raises(Llm2FxError, match="max_new_tokens"):
        greedy_generate(random_qwen3(), torch.randn(1, 3, 64), 0, eos_id=7)
    dec = Qwen3Decoder(random_qwen3())
    with pytest.raises(Llm2FxError, match="before prefill"):
        dec.step(3)
    with pytest.raises(Llm2FxError, match="shape"):
        dec.prefill(torch.randn(2, 3, 64), 8)
    dec.prefill(torch.randn(1, 3, 64), 4)
    dec.step(1)
    with pytest.raises(Llm2FxError, match="KV cache holds 4"):
        dec.step(1)


def test_estimate_stream_decoder_choice(tiny_model, dialogues):
    from llm2fx_lab.model.generate import estimate_stream

    d = dialogues[0]
    fast = list(estimate_stream(tiny_model, d.dry, d.reference, d.instruction, max_new_tokens=30, decoder="fast"))[-1]
    hf = list(estimate_stream(tiny_model, d.dry, d.reference, d.instruction, max_new_tokens=30, decoder="hf"))[-1]
    auto = list(estimate_stream(tiny_model, d.dry, d.reference, d.instruction, max_new_tokens=30))[-1]
    assert fast.reasoning == hf.reasoning == auto.reasoning and fast.response == hf.response
    assert fast.timings.tokens == hf.timings.tokens
    with pytest.raises(Llm2FxError, match="auto, fast, hf"):
        list(estimate_stream(tiny_model, d.dry, d.reference, decoder="beam"))
    with pytest.raises(Llm2FxError, match="greedily only"):
        list(estimate_stream(tiny_model, d.dry, d.reference, do_sample=True, decoder="fast"))


def test_shipped_model_gives_the_same_estimate_with_both_decoders():
    from llm2fx_lab.examples import example_pair
    from llm2fx_lab.model.generate import estimate_stream, load_planner_model
    from llm2fx_lab.model.mini import mini_weights_dir

    model = load_planner_model(mini_weights_dir()).model
    for name in ("guitar", "drums"):
        dry, wet, sr, _ = example_pair(name)
        fast = list(estimate_stream(model, dry, wet, sample_rate=sr, decoder="fast"))[-1]
        hf = list(estimate_stream(model, dry, wet, sample_rate=sr, decoder="hf"))[-1]
        assert fast.reasoning == hf.reasoning and fast.chain == hf.chain and fast.repairs == hf.repairs, name


def test_concurrent_calls_on_one_model_do_not_mix():
    import threading

    llm = random_qwen3()
    inputs = [torch.randn(1, 4 + i, 64) for i in range(3)]
    alone = [greedy_generate(llm, e, 15, eos_id=-1) for e in inputs]
    together: dict = {}
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, greedy_generate(llm, inputs[i], 15, eos_id=-1)))
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [together[i] for i in range(3)] == alone


def test_bfloat16_model_takes_float32_prompt_embeddings():
    llm = random_qwen3().to(torch.bfloat16)
    embeds = torch.randn(1, 6, 64)  # float32, as the audio adapter may give
    logits = Qwen3Decoder(llm).prefill(embeds, 8)
    with torch.no_grad():
        want = llm(inputs_embeds=embeds.to(torch.bfloat16)).logits[0, -1].float()
    assert logits.dtype == torch.float32 and torch.allclose(logits[0], want, atol=0.1, rtol=0.05)
    assert len(greedy_generate(llm, embeds, 5, eos_id=-1)) == 5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_cuda_logits_and_tokens_match_transformers():
    """On CUDA (float32, no TF32) the decoder's logits are transformers' and greedy tokens equal generate's."""
    llm = random_qwen3().to("cuda")
    embeds = torch.randn(1, 11, 64, device="cuda")
    tokens = [5, 42, 299, 0, 17]
    dec = Qwen3Decoder(llm)
    got = torch.cat([dec.prefill(embeds, 11 + len(tokens))] + [dec.step(t) for t in tokens[:-1]])
    with torch.no_grad():
        full = torch.cat([embeds, llm.get_input_embeddings()(torch.tensor([tokens[:-1]], device="cuda"))], dim=1)
        want = llm(inputs_embeds=full).logits[0, 10:]
        gen = llm.generate(inputs_embeds=embeds, attention_mask=torch.ones(1, 11, dtype=torch.long, device="cuda"),
                           max_new_tokens=25, do_sample=False, eos_token_id=7, pad_token_id=0)[0].tolist()
    assert got.device.type == "cuda"
    assert torch.allclose(got, want, atol=1e-3, rtol=1e-3), (got - want).abs().max()
    assert dec._graph is not None  # the steps above were CUDA-graph replays
    assert greedy_generate(llm, embeds, 25, eos_id=7) == gen
    assert greedy_generate(llm, embeds, 25, eos_id=7) == gen  # a second sequence captures its own graph


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_cuda_graph_steps_equal_eager_steps(monkeypatch):
    llm = random_qwen3().to("cuda")
    embeds = torch.randn(1, 9, 64, device="cuda")
    tokens = [5, 42, 299, 0, 17, 3, 3]
    graphed = Qwen3Decoder(llm)
    graphed.prefill(embeds, 20)
    got = torch.cat([graphed.step(t) for t in tokens])
    monkeypatch.setenv("LLM2FX_CUDA_GRAPHS", "0")
    eager = Qwen3Decoder(llm)
    eager.prefill(embeds, 20)
    want = torch.cat([eager.step(t) for t in tokens])
    assert eager._graph is None and graphed._graph is not None
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), (got - want).abs().max()
    assert graphed.position == eager.position == 9 + len(tokens)
    with pytest.raises(Llm2FxError, match="KV cache holds 20"):
        for t in range(10):
            graphed.step(t)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_cuda_bf16_cache_takes_the_model_dtype():
    llm = random_qwen3().to("cuda", torch.bfloat16)
    embeds = torch.randn(1, 6, 64, device="cuda")  # float32 prompt into a bf16 model
    out = greedy_generate(llm, embeds, 10, eos_id=-1)
    assert len(out) == 10 and all(0 <= t < 300 for t in out)
    dec = Qwen3Decoder(llm)
    dec.prefill(embeds, 8)
    assert dec.keys[0].dtype == torch.bfloat16 and dec.keys[0].device.type == "cuda"


@pytest.mark.parametrize("n_heads,n_kv", [(4, 2), (4, 4)])
def test_static_step_computes_the_eager_step(n_heads, n_kv):
    """The fixed-shape step (what a CUDA graph captures) gives the eager step's logits and cache."""
    llm = random_qwen3(n_heads, n_kv)
    embeds = torch.randn(1, 7, 64)
    eager, static = Qwen3Decoder(llm), Qwen3Decoder(llm)
    eager.prefill(embeds, 20)
    static.prefill(embeds, 20)
    for i, token in enumerate([5, 42, 299, 0]):
        want = eager.step(token)
        got = static.static_step(torch.tensor([token]), torch.tensor([7 + i]))
        assert torch.allclose(got, want, atol=1e-5, rtol=1e-5), (got - want).abs().max()
    for a, b in zip(eager.keys + eager.values, static.keys + static.values):
        assert torch.allclose(a, b, atol=1e-6)
