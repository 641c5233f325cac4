"""Chat template rendering and the tolerant tool-call parser."""

import pytest

from llm2fx_lab.data.format import (
    AUDIO_PLACEHOLDER,
    N_AUDIO_TOKENS,
    assistant_message,
    audio_token_layout,
    chat_template,
    parse_tool_calls,
    render_dialogue,
    split_prompt_target,
    user_message,
)
from llm2fx_lab.errors import ToolCallError
from llm2fx_lab.examples import example_chain


def test_render_matches_qwen3_layout():
    chain = example_chain("mix")
    msgs = [user_message("Match the reference."), assistant_message("Selection: EQ.", chain, "Done.")]
    text = render_dialogue(msgs)
    assert text.startswith("<|im_start|>system\n# Tools\n")
    assert "<tools>\n{\"type\": \"function\"" in text and "</tools>" in text
    assert f"<|im_start|>user\nMatch the reference.\n{AUDIO_PLACEHOLDER}<|im_end|>\n" in text
    prompt, target = split_prompt_target(text)
    assert target.startswith("<think>\nSelection: EQ.\n</think>\n\n<tool_call>\n")
    assert target.endswith("</tool_call>\nDone.<|im_end|>\n")
    assert target.count("<tool_call>") == len(chain)
    assert render_dialogue(msgs[:1], add_generation_prompt=True) == prompt
    assert "{%" in chat_template()


def test_parse_round_trip_and_fallbacks():
    chain = example_chain("piano")
    text = render_dialogue([user_message("x"), assistant_message("think", chain, "ok")])
    parsed, repairs = parse_tool_calls(split_prompt_target(text)[1])
    assert parsed == chain and repairs == ()
    py = "<tool_call>\n{'name': 'gain', 'arguments': {'gain_db': -6}}\n</tool_call>"
    parsed, repairs = parse_tool_calls(py)
    assert parsed.names == ("gain",) and any("Python literal" in r for r in repairs)
    messy = '<tool_call>\ncall {"name": "panner", "arguments": {"pan": 3}} thanks\n</tool_call>'
    parsed, repairs = parse_tool_calls(messy)
    assert parsed["panner"]["pan"] == 1.0 and any("first" in r for r in repairs) and any("clamped" in r for r in repairs)
    parsed, repairs = parse_tool_calls("<tool_call>\nnot json at all\n</tool_call>")
    assert len(parsed) == 0 and repairs
    with pytest.raises(ToolCallError):
        parse_tool_calls(None)


def test_bad_messages_and_layout():
    with pytest.raises(ToolCallError):
        render_dialogue([{"role": "robot", "content": "hi"}])
    with pytest.raises(ToolCallError):
        render_dialogue([])
    layout = audio_token_layout(True)
    assert layout.startswith("dry audio") and layout.count("<|audio_pad|>") == 2 * N_AUDIO_TOKENS
    assert audio_token_layout(False).count("<|audio_pad|>") == N_AUDIO_TOKENS


def test_template_works_with_transformers_apply_chat_template():
    import tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    fast.chat_template = chat_template()
    chain = example_chain("bass")
    msgs = [user_message("x"), assistant_message("think", chain, "ok")]
    from llm2fx_lab.fx import tool_schemas

    ours = render_dialogue(msgs)
    theirs = fast.apply_chat_template(msgs, tools=tool_schemas(), tokenize=False)
    assert ours == theirs
