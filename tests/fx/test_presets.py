"""Presets: named chains in a user folder, never overwritten without asking."""

import pytest

from llm2fx_lab.errors import ParameterError, ToolCallError
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.presets import (
    PRESETS_DIR_ENV,
    PresetError,
    delete_preset,
    list_presets,
    load_preset,
    preset_dir,
    save_preset,
)

CHAIN = Chain((tool_call("equalizer", {"high_gain_db": 4}), tool_call("reverb", {"mix_ratio": 0.3}, bypass=True),
               tool_call("gain", {"gain_db": -2})))


def test_saved_listed_loaded_gives_the_same_chain_with_bypassed_modules(tmp_path):
    path = save_preset("warm vocal", CHAIN, folder=tmp_path)
    assert path == tmp_path / "warm vocal.json"
    save_preset("Drum room-2", CHAIN.to_tool_calls(), folder=tmp_path)  # tool-call data works too
    assert list_presets(tmp_path) == ["Drum room-2", "warm vocal"]
    assert load_preset("warm vocal", folder=tmp_path) == CHAIN
    assert load_preset("WARM VOCAL", folder=tmp_path) == CHAIN  # one preset whatever the case
    # a preset file is a chain file: the official tool calls, the bypassed module flagged
    assert Chain.from_json(path.read_text()) == CHAIN
    delete_preset("warm vocal", folder=tmp_path)
    assert list_presets(tmp_path) == ["Drum room-2"]


def test_a_preset_is_never_replaced_without_overwrite(tmp_path):
    save_preset("mine", CHAIN, folder=tmp_path)
    before = (tmp_path / "mine.json").read_bytes()
    other = Chain((tool_call("gain", {"gain_db": 6}),))
    with pytest.raises(PresetError, match="exists .*overwrite=True"):
        save_preset("MINE", other, folder=tmp_path)
    assert (tmp_path / "mine.json").read_bytes() == before
    save_preset("mine", other, overwrite=True, folder=tmp_path)
    assert load_preset("mine", folder=tmp_path) == other
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.json"]  # no .part left behind


def test_the_folder_comes_from_the_environment_or_the_users_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(PRESETS_DIR_ENV, str(tmp_path / "shared"))
    assert preset_dir() == tmp_path / "shared"
    save_preset("a", CHAIN)
    assert (tmp_path / "shared" / "a.json").is_file() and list_presets() == ["a"]
    monkeypatch.delenv(PRESETS_DIR_ENV)
    assert preset_dir().parts[-2:] == ("llm2fx-lab", "presets")
    assert list_presets(tmp_path / "none-yet") == []


@pytest.mark.parametrize("name", ["", "  ", "../etc/passwd", "a/b", "x" * 65, ".hidden", "chain.json", 3, None])
def test_names_that_are_not_allowed_get_one_line(tmp_path, name):
    with pytest.raises(PresetError, match="preset name|a preset name is text"):
        save_preset(name, CHAIN, folder=tmp_path)
    assert not any(tmp_path.iterdir())


def test_unknown_broken_and_invalid_presets_are_clear_errors(tmp_path):
    save_preset("kept", CHAIN, folder=tmp_path)
    with pytest.raises(PresetError, match=r"no preset 'nope' .*saved presets: kept"):
        load_preset("nope", folder=tmp_path)
    with pytest.raises(PresetError, match="no preset 'nope' .* to delete"):
        delete_preset("nope", folder=tmp_path)
    (tmp_path / "broken.json").write_text("[{\"name\": \"gain\", ")
    with pytest.raises(PresetError, match="preset file broken.json: chain JSON does not parse"):
        load_preset("broken", folder=tmp_path)
    (tmp_path / "odd.json").write_text('[{"name": "flanger", "arguments": {}}]')
    with pytest.raises(PresetError, match="preset file odd.json: .*flanger"):
        load_preset("odd", folder=tmp_path)
    (tmp_path / "huge.json").write_bytes(b" " * (64 * 1024 + 1))
    with pytest.raises(PresetError, match="preset file huge.json is 65537 bytes"):
        load_preset("huge", folder=tmp_path)
    with pytest.raises((ToolCallError, ParameterError)):
        save_preset("bad", [{"name": "gain", "arguments": {"gain_db": 99}}], folder=tmp_path)
    assert not (tmp_path / "bad.json").exists()
