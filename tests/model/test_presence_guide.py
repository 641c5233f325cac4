"""Presence-guided decoding: the rules on scripted text, then the shipped mini end to end."""

import numpy as np
import pytest

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.model.guide import PresenceGuide, mentioned, optional_set, presence_set
from llm2fx_lab.model.mini import mini_weights_dir

MINI_DIR = mini_weights_dir()
needs_mini = pytest.mark.skipif(not (MINI_DIR / "tokenizer").exists(), reason="shipped mini tokenizer missing")


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MINI_DIR / "tokenizer")


def allowed(guide: PresenceGuide, text: str, tokens: list[str]) -> dict[str, bool]:
    """Which of ``tokens`` the guide leaves open after ``text`` (a forced token closes the others)."""
    guide.text = text
    ban, forced = guide.next_token_rule()
    ids = guide.tokenizer.convert_tokens_to_ids(tokens)
    if forced is not None:
        return {t: i == forced for t, i in zip(tokens, ids)}
    return {t: i not in ban for t, i in zip(tokens, ids)}


OPEN = "I'll listen for what changed.\n\nSelection."


def test_presence_set_and_its_bad_input():
    assert presence_set({"gain": 0.9, "reverb": 0.2, "delay": 0.6}, 0.5) == ("gain", "delay")
    assert presence_set({"gain": 0.1, "reverb": 0.3}, 0.5) == ("reverb",)  # never empty
    with pytest.raises(Llm2FxError, match="unknown modules.*allowed"):
        presence_set({"flanger": 0.9})
    with pytest.raises(Llm2FxError, match="threshold must be in"):
        presence_set({"gain": 0.9}, 1.5)
    with pytest.raises(Llm2FxError, match="at least one"):
        presence_set({})


def test_mentions_are_whole_words():
    assert mentioned("a stereo widener, then an EQ; the target gains harmonics; a gain stage") == \
        ["stereo_widener", "equalizer", "gain"]


@needs_mini
def test_guide_bad_input(tok):
    with pytest.raises(Llm2FxError, match="at least one module"):
        PresenceGuide(tok, [])
    with pytest.raises(Llm2FxError, match="unknown modules.*allowed"):
        PresenceGuide(tok, ["reverb", "chorus"])


@needs_mini
def test_selection_clauses_name_each_chosen_module_once(tok):
    g = PresenceGuide(tok, ["equalizer", "reverb"])
    # a clause opens with an article of a missing module, never with free text
    assert allowed(g, OPEN, ["ĠA", "ĠAn", "ĠThe", "ĠDistortion"]) == \
        {"ĠA": True, "ĠAn": True, "ĠThe": False, "ĠDistortion": False}
    # after "A" only the chosen module that takes "a"
    assert allowed(g, OPEN + " A", ["Ġreverb", "Ġdelay", "Ġcompressor", "ĠEQ"]) == \
        {"Ġreverb": True, "Ġdelay": False, "Ġcompressor": False, "ĠEQ": False}
    clause = OPEN + " A reverb explains why tails last 1"
    # the list of clauses cannot close while the EQ has none; a decimal point can follow a digit
    assert allowed(g, clause + " s longer", [".", ";", "Ċ"]) == {".": False, ";": True, "Ċ": False}
    assert allowed(g, clause, ["."])["."]
    # the next clause: only the missing module
    assert allowed(g, clause + " s longer; an", ["Ġequalizer", "Ġreverb"]) == {"Ġequalizer": True, "Ġreverb": False}
    # every chosen module has its clause: no further clause
    done = clause + " s longer; an equalizer explains why the top is brighter"
    assert allowed(g, done, [".", ";"]) == {".": True, ";": False}


@needs_mini
def test_optional_modules_are_the_models_choice(tok):
    g = PresenceGuide(tok, ["reverb"], optional=["delay"])
    done = OPEN + " A reverb explains why tails last longer"
    # the required module has its clause: the list may close, or go on with the optional one only
    assert allowed(g, done, [".", ";"]) == {".": True, ";": True}
    assert allowed(g, done + "; a", ["Ġdelay", "Ġgain", "Ġreverb"]) == \
        {"Ġdelay": True, "Ġgain": False, "Ġreverb": False}
    # S is the required module plus the optional ones the clauses named
    assert g.modules == ("reverb",)
    g.text = done + "; a delay explains the echo. Selected: reverb"
    assert g.modules == ("reverb", "delay")
    assert allowed(g, g.text, [".", ","]) == {".": False, ",": True}
    assert optional_set({"reverb": 0.9, "delay": 0.3, "gain": 0.05}, 0.4, 0.1) == ("delay",)
    with pytest.raises(Llm2FxError, match="floor must be in"):
        optional_set({"reverb": 0.9}, 0.4, 0.6)


@needs_mini
def test_summary_lists_the_chosen_modules(tok):
    g = PresenceGuide(tok, ["equalizer", "reverb"])
    body = OPEN + " A reverb explains it; an equalizer explains the rest."
    assert allowed(g, body + " Selected: reverb,", ["ĠEQ", "Ġreverb", "Ġdelay"]) == \
        {"ĠEQ": True, "Ġreverb": False, "Ġdelay": False}
    assert allowed(g, body + " Selected: reverb", [".", ","]) == {".": False, ",": True}
    assert allowed(g, body + " Selected: reverb, EQ", [".", ","]) == {".": True, ",": False}
    # the count is the number of chosen modules
    assert allowed(g, body + " That gives", ["Ġ"]) == {"Ġ": True}
    assert allowed(g, body + " That gives ", ["2", "3"]) == {"2": True, "3": False}


@needs_mini
def test_order_and_parameters_cover_the_chosen_modules(tok):
    g = PresenceGuide(tok, ["equalizer", "reverb"])
    sel = OPEN + " A reverb explains it; an equalizer explains the rest. Selected: reverb, EQ.\n\n"
    assert not allowed(g, sel + "Order:", ["ĠWith"])["ĠWith"]  # two modules: no "single module" line
    assert allowed(g, sel + "Order: The signal flows reverb ->", ["ĠEQ", "Ġreverb", "Ġgain"]) == \
        {"ĠEQ": True, "Ġreverb": False, "Ġgain": False}
    params = sel + "Order: The signal flows reverb -> EQ.\n\nParameters:"
    assert allowed(g, params, ["Ġreverb", "Ġgain"]) == {"Ġreverb": True, "Ġgain": False}
    assert allowed(g, params + " reverb: mix 0", ["."])["."]  # a decimal point
    assert allowed(g, params + " reverb: mix 0.5", [".", ";"]) == {".": False, ";": True}
    assert allowed(g, params + " reverb: mix 0.5; EQ: low shelf +2 dB", [".", ";"]) == {".": True, ";": False}


@needs_mini
def test_tool_calls_are_the_chosen_modules(tok):
    g = PresenceGuide(tok, ["equalizer", "reverb"])
    calls = "...</think>\n<tool_call>\n{\"name\": \""
    assert allowed(g, calls, ["equalizer", "reverb", "delay", "Ġ"]) == \
        {"equalizer": True, "reverb": True, "delay": False, "Ġ": False}
    one = calls + 'reverb", "arguments": {"mix_ratio": 0.5}}\n</tool_call>'
    assert allowed(g, one, ["Ċ", "<|im_end|>"]) == {"Ċ": True, "<|im_end|>": False}
    assert allowed(g, one + "\n", ["<tool_call>", "Done"]) == {"<tool_call>": True, "Done": False}
    assert allowed(g, one + "\n<tool_call>\n{\"name\": \"", ["equalizer", "reverb"]) == \
        {"equalizer": True, "reverb": False}
    both = one + '\n<tool_call>\n{"name": "equalizer", "arguments": {}}\n</tool_call>\n'
    assert allowed(g, both, ["<tool_call>", "Done"]) == {"<tool_call>": False, "Done": True}


def test_guide_needs_a_presence_head(tiny_model):
    from llm2fx_lab.model.generate import estimate_stream

    assert tiny_model.chain_probe is None
    x = np.random.default_rng(0).standard_normal((2, 22050)).astype(np.float32) * 0.1
    with pytest.raises(Llm2FxError, match="chain probe"):
        list(estimate_stream(tiny_model, x, x, presence_guide=True, max_new_tokens=4))
    final = list(estimate_stream(tiny_model, x, x, max_new_tokens=4))[-1]  # off by default
    assert not any(r.startswith("presence guide") for r in final.repairs)


def test_presence_probabilities_need_a_probe(tiny_model):
    from llm2fx_lab.model import presence_probabilities

    x = np.random.default_rng(0).standard_normal((2, 22050)).astype(np.float32) * 0.1
    with pytest.raises(Llm2FxError, match="no chain probe"):
        presence_probabilities(tiny_model, x, x)


def test_presence_probabilities_of_the_shipped_mini():
    from llm2fx_lab.errors import AudioError
    from llm2fx_lab.examples import example_pair
    from llm2fx_lab.fx.spec import MODULE_NAMES
    from llm2fx_lab.model import presence_probabilities
    from llm2fx_lab.planners import get_planner

    model = get_planner("mini").model
    dry, ref, sr, true_chain = example_pair("guitar")
    probabilities = presence_probabilities(model, dry, ref, sr)
    assert list(probabilities) == list(MODULE_NAMES)
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    # the probe hears the guitar's modules on average (measured: panner 0.58, reverb 0.84,
    # limiter 0.52; the six absent ones 0.31-0.61, mean 0.45)
    true = set(true_chain.active.names)
    assert np.mean([probabilities[m] for m in true]) > np.mean([p for m, p in probabilities.items() if m not in true])
    blind = presence_probabilities(model, None, ref, sr)  # blind mode: the reference alone
    assert list(blind) == list(MODULE_NAMES) and blind != probabilities
    with pytest.raises(AudioError, match="sample rate|Hz"):
        presence_probabilities(model, dry, ref, sr / 2)
    bad = ref.copy()
    bad[0, 100] = np.nan
    with pytest.raises(AudioError):
        presence_probabilities(model, dry, bad, sr)


def test_mini_text_and_chain_follow_its_presence_head():
    from llm2fx_lab.events import collect
    from llm2fx_lab.examples import example_pair
    from llm2fx_lab.model.scores import presence_probabilities
    from llm2fx_lab.planners import get_planner

    mini = get_planner("mini")
    dry, ref, sr, _ = example_pair("guitar")
    from llm2fx_lab.fx.spec import MODULE_NAMES

    probabilities = presence_probabilities(mini.model, dry, ref, sr)
    chosen = set(presence_set(probabilities))
    guided = collect(get_planner("mini", presence_guide=True).plan(dry, ref, sr))
    assert guided.repairs[0].startswith(f"presence guide: the presence head required {', '.join(sorted(chosen, key=MODULE_NAMES.index))};")
    assert set(guided.chain.names) == chosen
    selection = guided.reasoning_by_step["selection"]
    assert set(mentioned(selection)) == chosen, selection
    plain = collect(mini.plan(dry, ref, sr))  # the default: unguided
    assert not any(r.startswith("presence guide") for r in plain.repairs)
    # with a floor below the threshold, the modules between are the model's to name or not
    floor = max(0.0, min(probabilities.values()) - 1e-6)
    left = set(optional_set(probabilities, floor=floor))
    assert left, probabilities
    loose = collect(get_planner("mini", presence_guide=True, presence_floor=floor).plan(dry, ref, sr))
    assert chosen <= set(loose.chain.names) <= chosen | left
    assert "and left" in loose.repairs[0]


def test_threshold_tuning_script(capsys):
    from tests._scripts import load_script

    module = load_script("scripts/tune_presence_guide.py")
    assert module.main(["--per-length", "1", "--seed", "1234"]) == 2  # the test pairs: refused
    assert "tune on other pairs" in capsys.readouterr().err
    assert module.main(["--per-length", "1", "--seed", "99"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 0.")]
    assert [r.split("|")[1].strip() for r in rows] == [f"{t:g}" for t in module.THRESHOLDS]
    for r in rows:  # accuracy in percent, modules per chain between 1 and 9
        acc, size = float(r.split("|")[2].strip(" %")), float(r.split("|")[3])
        assert 0 <= acc <= 100 and 1 <= size <= 9
