"""The notebooks' helpers (llm2fx_lab.lessons): normal use and bad input of each."""

import math

import ipywidgets as W
import numpy as np
import pandas as pd
import pytest
from IPython.display import HTML, Markdown
from matplotlib.figure import Figure

from llm2fx_lab import lessons
from llm2fx_lab.analysis import compare
from llm2fx_lab.errors import AudioError, Llm2FxError, ParameterError, ToolCallError
from llm2fx_lab.examples import example_chain, list_examples, load_example
from llm2fx_lab.fx import MODULE_NAMES, TOOLSET, Chain, describe_chain, param, render, tool_call
from llm2fx_lab.model import DigitScore
from llm2fx_lab.model.guide import PRESENCE_THRESHOLD
from llm2fx_lab.planners import PlanResult, Thinking, Timings
from llm2fx_lab.planners.bench import PAPER_ROWS

SR = 44100


class Handle:
    """Stands in for IPython's DisplayHandle: records what it was updated with."""

    def __init__(self, obj):
        self.shown = [obj]

    def update(self, obj):
        self.shown.append(obj)


@pytest.fixture
def shown(monkeypatch):
    """Everything lessons displays, in order; display handles as :class:`Handle`."""
    out = []

    def display(*objs, display_id=None):
        out.extend(objs)
        return Handle(objs[0]) if display_id else None

    for module in (lessons.effects, lessons.training):
        monkeypatch.setattr(module, "display", display)
    return out


@pytest.fixture(scope="module")
def drums():
    return lessons.clip("drums", 0.5)


def _result(chain_names=("compressor",), thinking=(), by_step=None):
    chain = Chain.from_tool_calls([{"name": n, "arguments": {}} for n in chain_names])
    return PlanResult(chain=chain, reasoning="".join(t.text for t in thinking), reasoning_by_step=by_step or {},
                      response="", timings=Timings(None, 1.0), events=tuple(thinking))


# --- 02 · Effects 101 -------------------------------------------------------------------------

def test_clip_is_the_start_of_the_example():
    x, sr = lessons.clip("piano", 0.5)
    full, _ = load_example("piano")
    assert sr == SR and x.shape == (2, SR // 2) and x.dtype == np.float32
    np.testing.assert_array_equal(x, full[:, : SR // 2])


def test_clip_bad_input():
    with pytest.raises(AudioError, match="no bundled example 'violin'; available: " + ", ".join(list_examples())):
        lessons.clip("violin")
    with pytest.raises(ParameterError, match="seconds must be a positive number"):
        lessons.clip("piano", 0)


def test_explanation_has_one_row_per_parameter():
    text = lessons.explanation("equalizer").data
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == list(TOOLSET["equalizer"].param_names)
    assert "| `low_q_factor` |" in text and "0 (renders from 0.1) to 6" in text
    assert text.startswith("**equalizer** (rendered with numpy).")


def test_explain_displays_the_explanation(shown):
    assert lessons.explain("compressor") is None
    assert len(shown) == 1 and isinstance(shown[0], Markdown)
    assert shown[0].data == lessons.explanation("compressor").data
    assert "| `attack_ms` | ms | 0 ms to 500 ms | 10 ms | log |" in shown[0].data


@pytest.mark.parametrize("function", [lessons.explanation, lessons.explain])
def test_explain_unknown_module(function):
    with pytest.raises(ToolCallError, match="unknown module 'compresor'; allowed: " + ", ".join(MODULE_NAMES)):
        function("compresor")


def test_players_share_one_scale():
    x = np.full((2, 100), 0.5, np.float32)
    quiet = lessons.players(SR, before=x, after=x * 0.5).data
    assert quiet.count("<audio") == 2 and "<b>before</b>" in quiet and "turned down" not in quiet
    loud = lessons.players(SR, before=x, after=x * 4).data  # peak 2.0 = +6.0 dBFS
    assert "peaks reach +6.0 dBFS" in loud and f"turned down by {20 * math.log10(2 / 0.99):.1f} dB" in loud


def test_players_bad_input():
    with pytest.raises(ParameterError, match="at least one clip"):
        lessons.players(SR)
    with pytest.raises(AudioError, match="after must have 1 or 2 channels"):
        lessons.players(SR, after=np.zeros((3, 100)))
    with pytest.raises(AudioError, match="sample_rate"):
        lessons.players(0, before=np.zeros((2, 100)))


def test_listen_displays_players(shown):
    lessons.listen(SR, dry=np.zeros((2, 100)))
    assert len(shown) == 1 and isinstance(shown[0], HTML) and "<b>dry</b>" in shown[0].data


def test_impulse_response_of_a_delay_has_its_echoes_where_the_delay_says():
    ir = lessons.impulse_response(tool_call("delay", {"delay_seconds": 0.3, "feedback": 0.4, "mix_ratio": 0.5}), SR)
    assert ir.shape == (2, int(0.01 * SR) + int(1.5 * SR))
    spikes = np.flatnonzero(np.abs(ir[0]) > 0.01)
    echo = round(0.3 * SR)
    np.testing.assert_array_equal(spikes[:4], [0, echo, 2 * echo, 3 * echo])
    # dry and first echo at 1 - mix and mix, each later echo quieter by the feedback
    np.testing.assert_allclose(ir[0, spikes[:4]], [0.5, 0.5, 0.2, 0.08], rtol=1e-4)


def test_impulse_response_of_a_gain_is_the_gain():
    ir = lessons.impulse_response(tool_call("gain", {"gain_db": -6.02}), SR, seconds=0.1)
    np.testing.assert_allclose(ir[:, 0], 0.5, rtol=1e-3)
    assert np.abs(ir[:, 1:]).max() < 1e-6


def test_impulse_response_bad_input():
    with pytest.raises(ParameterError, match="seconds must be a positive number"):
        lessons.impulse_response(tool_call("gain", {}), SR, seconds=-1)


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_plots_draw_two_axes_for_every_module(name, drums):
    x, sr = drums
    call = tool_call(name, {})
    fig = lessons.plots(call, x, render(x, sr, [call], tail_seconds=0.1), sr)
    assert isinstance(fig, Figure) and len(fig.axes) >= 2
    assert all(ax.has_data() for ax in fig.axes[:2])


def test_plots_of_a_delay_show_its_impulse_response(drums):
    x, sr = drums
    call = tool_call("delay", {"delay_seconds": 0.3, "feedback": 0.4, "mix_ratio": 0.5})
    left = lessons.plots(call, x, x, sr).axes[0].lines[0]
    t, amplitude = left.get_xdata(), left.get_ydata()
    echo = np.flatnonzero(np.abs(amplitude) > 0.01)[1]
    assert t[echo] == pytest.approx(0.3, abs=1 / sr)


def test_plots_bad_input(drums):
    x, sr = drums
    with pytest.raises(AudioError, match="y is empty"):
        lessons.plots(tool_call("gain", {}), x, np.zeros((2, 0)), sr)


def test_see_displays_the_plots(shown, drums):
    x, sr = drums
    lessons.see(tool_call("gain", {"gain_db": -6}), x, x * 0.5, sr)
    assert len(shown) == 1 and isinstance(shown[0], Figure)
    assert shown[0].axes[1].get_title() == "after (both channels)"


def test_slider_linear():
    s = lessons.slider("equalizer", "low_q_factor")
    p = param("equalizer", "low_q_factor")
    assert isinstance(s, W.FloatSlider)
    assert (s.min, s.max, s.value) == (p.valid_minimum, p.maximum, p.default) == (0.1, 6.0, 0.707)
    assert s.step == pytest.approx(p.schema_step / 5) and s.description == "low Q"
    gain = lessons.slider("gain", "gain_db")
    assert (gain.min, gain.max, gain.step, gain.value, gain.description) == (-20, 20, 1, 0, "gain (dB)")


def test_slider_log_is_spaced_by_the_spec_normalisation():
    p = param("compressor", "attack_ms")
    s = lessons.slider("compressor", "attack_ms")
    values = [v for _, v in s.options]
    assert isinstance(s, W.SelectionSlider) and s.value == p.default == 10
    assert values == sorted(values) and values[0] == p.minimum and values[-1] == p.maximum
    assert set(values) == {round(p.denormalize(u)) for u in np.linspace(0, 1, 61)} | {10}
    # above the rounding, consecutive values are 1/60 apart in normalised units, not in ms
    large = [p.normalize(v) for v in values if v >= 50]
    np.testing.assert_allclose(np.diff(large), 1 / 60, atol=2e-3)
    steps = np.diff(values)
    assert steps[-1] > 10 * steps[0] > 0  # 1 ms steps at the bottom, tens of ms at the top
    assert s.options[0][0] == "0 ms"


def test_slider_bad_input():
    with pytest.raises(ParameterError, match="compressor has no parameter 'attack'; allowed: threshold_db, ratio"):
        lessons.slider("compressor", "attack")
    with pytest.raises(ToolCallError, match="unknown module 'compresor'; allowed"):
        lessons.slider("compresor", "ratio")


def test_play_with_makes_sliders_at_the_defaults(shown):
    controls = lessons.play_with("compressor", "drums", seconds=0.3)
    assert list(controls) == list(TOOLSET["compressor"].param_names)
    assert {k: c.value for k, c in controls.items()} == TOOLSET["compressor"].defaults()
    box, audio, fig = shown
    assert isinstance(box, W.VBox) and list(box.children[1:]) == list(controls.values())
    assert isinstance(audio, HTML) and isinstance(fig, Figure)


def test_play_with_updates_its_players_and_plots(monkeypatch):
    handles = []

    def display(*objs, display_id=None):
        if display_id:
            handles.append(Handle(objs[0]))
            return handles[-1]

    monkeypatch.setattr(lessons.effects, "display", display)
    controls = lessons.play_with("gain", "guitar", seconds=0.3)
    audio, plot = handles
    controls["gain_db"].value = -12.0
    assert len(audio.shown) == len(plot.shown) == 2
    assert isinstance(audio.shown[1], HTML) and isinstance(plot.shown[1], Figure)
    before, after = (shown.axes[1].lines[0].get_ydata() for shown in plot.shown)  # RMS envelopes
    assert np.nanmax(after) / np.nanmax(before) == pytest.approx(10 ** (-12 / 20), rel=1e-3)


def test_play_with_bad_input(shown):
    with pytest.raises(ToolCallError, match="unknown module 'reverbb'; allowed"):
        lessons.play_with("reverbb", "drums")
    with pytest.raises(AudioError, match="no bundled example 'violin'; available"):
        lessons.play_with("reverb", "violin")
    assert shown == []


def test_order_plots(drums):
    x, sr = drums
    comp = tool_call("compressor", {"threshold_db": -30, "ratio": 8, "attack_ms": 5, "release_ms": 200})
    verb = tool_call("reverb", {"room_size": 0.8, "damping": 0.3, "width": 0.9, "mix_ratio": 0.4})
    a, b = lessons.order_plots(x, sr, comp, verb, tail_seconds=0.2).axes
    assert [line.get_label() for line in a.lines] == ["compressor -> reverb", "reverb -> compressor"]
    assert a.get_title() == "compressor gain change, measured" and len(b.lines) == 2
    first, second = (line.get_ydata() for line in a.lines)
    assert first.min() < -3 and not np.allclose(first, second)  # the compressor works, and differently


def test_order_plots_bad_input(drums):
    x, sr = drums
    with pytest.raises(ToolCallError, match="needs a compressor or limiter first, got 'reverb'"):
        lessons.order_plots(x, sr, tool_call("reverb", {}), tool_call("compressor", {}))


def test_measured_changes():
    x, sr = lessons.clip("guitar", 1.0)
    text = lessons.measured_changes(x, render(x, sr, [tool_call("gain", {"gain_db": -12})]), sr)
    assert text.startswith("- the processed clip is 12.0 LU quieter")
    assert all(line.startswith("- ") for line in text.splitlines())
    assert lessons.measured_changes(x, x, sr) == compare(x, x, sr).summary()


def test_measured_changes_bad_input():
    with pytest.raises(AudioError):
        lessons.measured_changes(np.full((2, 100), np.nan), np.zeros((2, 100)), SR)


def test_exercise_shows_the_pair_and_hides_the_answer(shown):
    chain = lessons.exercise("bass", seconds=0.5, tail_seconds=0.2)
    assert chain == example_chain("bass")
    players, fig, panels = shown
    assert "<b>processed</b>" in players.data and isinstance(fig, Figure)
    assert panels.selected_index is None and panels.get_title(1) == "Answer: the hidden chain"
    assert describe_chain(chain).split("\n")[0] in panels.children[1].value


def test_exercise_bad_input(shown):
    with pytest.raises(AudioError, match="no bundled example 'violin'"):
        lessons.exercise("violin")


# --- 03 · Reasoning explorer ------------------------------------------------------------------

def test_example_pairs():
    pairs = lessons.example_pairs(["piano"], seconds=1.0)
    dry, reference, sr, chain = pairs["piano"]
    assert list(pairs) == ["piano"] and dry.shape == reference.shape == (2, SR)
    assert chain == example_chain("piano") and not np.allclose(dry, reference)
    assert list(lessons.example_pairs(seconds=0.1)) == list_examples()


def test_example_pairs_bad_input():
    with pytest.raises(AudioError, match="no bundled example 'violin'"):
        lessons.example_pairs(["piano", "violin"], 1.0)
    with pytest.raises(ParameterError, match="seconds"):
        lessons.example_pairs(["piano"], 0.0)


def test_reasoning_table():
    results = {"a": _result(("gain", "reverb"), by_step={"selection": " gain and reverb \n"}),
               "b": _result(("delay",), by_step={"order": "delay only"})}
    table = lessons.reasoning_table(results).data
    assert list(table.columns) == ["a", "b"]
    assert list(table.index) == ["selection", "order", "parameters", "refinement", "chain"]
    assert table.loc["selection", "a"] == "gain and reverb" and table.loc["order", "b"] == "delay only"
    assert table.loc["chain", "a"] == "gain -> reverb" and table.loc["selection", "b"] == ""


def test_reasoning_table_bad_input():
    with pytest.raises(ParameterError, match="at least one"):
        lessons.reasoning_table({})


def test_first_mentions():
    first = Thinking("I hear a compressor and a stereo_widener. ", "selection")
    second = Thinking("Then reverb, after the compressor.", "order")
    seen = lessons.first_mentions(_result(thinking=(first, second)))
    assert seen == {"compressor": (9, "selection"), "stereo_widener": (26, "selection"),
                    "reverb": (len(first.text) + 5, "order")}


def test_first_mentions_without_reasoning():
    assert lessons.first_mentions(_result(thinking=())) == {}
    assert lessons.first_mentions(_result(thinking=(Thinking("widener, reverbs", "selection"),))) == {}


def test_decision_timeline():
    dry, reference, sr, _ = lessons.example_pairs(["piano"], 1.0)["piano"]
    evidence = {"piano": compare(dry, reference, sr)}
    thinking = (Thinking("An equalizer first, then a delay. The clip is 3 dB louder.", "selection"),)
    results = {("piano", "x"): _result(("equalizer", "delay"), thinking), ("piano", "y"): _result(("gain",))}
    x, y = lessons.decision_timeline(results, evidence).axes
    assert x.get_ylabel() == "piano\nx" and [t.get_text() for t in x.texts] == [" equalizer", " delay"]
    text = thinking[0].text
    assert [line.get_xdata()[0] for line in x.lines[:2]] == [text.index("equalizer") / len(text),
                                                             text.index("delay") / len(text)]
    assert len(x.lines) == 3 and len(y.lines) == 0  # two modules and one claim; nothing said by y
    assert x.get_ylim() == (0, 1)


def test_decision_timeline_bad_input():
    with pytest.raises(ParameterError, match="no evidence for pair.s. piano; have: drums"):
        lessons.decision_timeline({("piano", "x"): _result()}, {"drums": None})
    with pytest.raises(ParameterError, match="at least one result"):
        lessons.decision_timeline({}, {})


def test_hears_and_says():
    hears = {"a": {m: 0.1 for m in MODULE_NAMES} | {"gain": 0.9, "reverb": 0.6}}
    fig, table = lessons.hears_and_says(hears, {"a": {"gain"}}, {"a": {"gain"}})
    row = table.iloc[0]
    assert row["probe above threshold"] == "gain, reverb" and row["text named"] == "gain"
    assert row["text accuracy"] == 1.0 and row["probe accuracy"] == pytest.approx(8 / 9)
    bars = fig.axes[0].patches
    assert len(bars) == 9 and bars[MODULE_NAMES.index("gain")].get_height() == 0.9
    said, threshold = fig.axes[0].lines
    assert list(said.get_xdata()) == [MODULE_NAMES.index("gain")]
    assert list(threshold.get_ydata()) == [PRESENCE_THRESHOLD] * 2


def test_hears_and_says_bad_input():
    with pytest.raises(ParameterError, match="must name the same pairs"):
        lessons.hears_and_says({"a": {}}, {"b": set()}, {"a": set()})


def test_quick_tiny_model():
    model, dialogues = lessons.quick_tiny_model(stage2_steps=2, seconds=0.25)
    assert not model.training and len(dialogues) == 16
    assert dialogues[6].chain.names == ("limiter",) and dialogues[6].dry.shape == (2, int(0.25 * SR))


def test_quick_tiny_model_bad_input():
    with pytest.raises(ParameterError, match="stage2_steps must be a whole number >= 1, got 0"):
        lessons.quick_tiny_model(stage2_steps=0)


def _digit(parameter, position, token, probs, call=0):
    return DigitScore(call=call, module="limiter", parameter=parameter, value="150", position=position,
                      place=2 - position, char=0, token=token, token_id=0, probability=0.5, top=((token, 0.5),),
                      digit_probs=probs, digit_mass=1.0)


def test_digit_figure_shows_the_value_with_most_digits():
    one_hot = lambda d: tuple(1.0 if i == d else 0.0 for i in range(10))  # noqa: E731
    scores = [_digit("threshold_db", 0, "9", one_hot(9))] + [
        _digit("release_ms", i, t, one_hot(int(t))) for i, t in enumerate("150")]
    fig = lessons.digit_figure(scores)
    assert len(fig.axes) == 3 and fig.get_suptitle().startswith("limiter.release_ms = 150")
    bars = fig.axes[1].patches
    assert bars[5].get_height() == 1.0 and bars[5].get_facecolor() != bars[4].get_facecolor()


def test_digit_figure_bad_input():
    with pytest.raises(ParameterError, match="at least one DigitScore"):
        lessons.digit_figure([])


# --- 04 · Train your own ----------------------------------------------------------------------

LOG = "stage,step,loss,val_loss\n1,1,5.0,\n1,2,4.0,4.5\n2,1,3.0,\n2,2,2.0,2.5\n2,3,1.5,\n"


def test_loss_figure(tmp_path):
    (tmp_path / "log.csv").write_text(LOG)
    ax = lessons.loss_figure(tmp_path / "log.csv").axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    assert list(lines) == ["stage 1 train loss", "stage 1 validation", "stage 2 train loss", "stage 2 validation"]
    assert list(lines["stage 2 train loss"].get_xdata()) == [3, 4, 5]
    assert list(lines["stage 2 validation"].get_ydata()) == [2.5]
    assert len(lessons.loss_figure(tmp_path / "missing.csv").axes[0].lines) == 0


def test_loss_figure_bad_input(tmp_path):
    (tmp_path / "log.csv").write_text("stage,loss\n1,2.0\n")
    with pytest.raises(ParameterError, match="has no column val_loss; a training log has stage, loss, val_loss"):
        lessons.loss_figure(tmp_path / "log.csv")


def test_train_with_live_loss(tmp_path, monkeypatch, shown):
    calls = []

    def fake_train(preset_name, data_dir, out, progress, train):
        calls.append((preset_name, data_dir, train))
        (out / "log.csv").write_text(LOG)
        return {"stage1": {"loss": 4.0}, "stage2": {"loss": 1.5}}

    monkeypatch.setattr(lessons.training, "train_from_dir", fake_train)
    metrics = lessons.train_with_live_loss("tiny", tmp_path / "data", tmp_path, 3, 5, refresh_seconds=0.01)
    assert metrics == {"stage1": {"loss": 4.0}, "stage2": {"loss": 1.5}}
    assert calls == [("tiny", tmp_path / "data", {"stage1_steps": 3, "stage2_steps": 5})]
    assert len(shown) == 1 and isinstance(shown[0], Figure)


def test_train_with_live_loss_redraws_and_raises_errors(tmp_path, monkeypatch):
    handles = []

    def display(obj, display_id=None):
        handles.append(Handle(obj))
        return handles[-1]

    def failing_train(*args, **kwargs):
        (tmp_path / "log.csv").write_text(LOG)
        raise Llm2FxError("no train examples")

    monkeypatch.setattr(lessons.training, "display", display)
    monkeypatch.setattr(lessons.training, "train_from_dir", failing_train)
    with pytest.raises(Llm2FxError, match="no train examples"):
        lessons.train_with_live_loss("tiny", tmp_path, tmp_path, 1, 1, refresh_seconds=0.01)
    (handle,) = handles
    assert len(handle.shown[-1].axes[0].lines) == 4  # the last redraw read the whole log


def test_train_with_live_loss_bad_input(tmp_path, monkeypatch):
    monkeypatch.setattr(lessons.training, "train_from_dir", lambda *a, **k: pytest.fail("training started"))
    with pytest.raises(ParameterError, match="unknown model preset 'huge'; allowed"):
        lessons.train_with_live_loss("huge", tmp_path, tmp_path, 1, 1)


# --- 05 · Benchmark ---------------------------------------------------------------------------

def _summary(acc):
    rows = []
    for method, a in (("prediction", acc), ("empty chain", 0.3)):
        for length in ("1", "2", "all"):
            rows.append({"method": method, "chain_length": length, "n_examples": 2, "acc": a, "rank_corr": 0.5,
                         "mae": 0.1, "mrs_l": 1.0, "mrs_r": 1.1})
    return pd.DataFrame(rows)


def test_benchmark_rows():
    ours = lessons.benchmark_rows({"analysis": _summary(0.8), "mini": _summary(0.6)}, n_pairs=4)
    assert list(ours.columns) == ["row", "chain length", "n", "Acc", "Rank Corr", "MAE", "MRS L", "MRS R", "audio"]
    assert list(ours[ours["chain length"] == "all"]["row"]) == ["analysis", "calibration: empty chain", "mini"]
    assert ours.set_index(["row", "chain length"]).loc[("mini", "all"), "Acc"] == 0.6
    assert set(ours["audio"]) == {"ours: 4 generated pairs"}


def test_benchmark_rows_bad_input():
    with pytest.raises(ParameterError, match="at least one planner"):
        lessons.benchmark_rows({}, 0)


def test_paper_rows():
    paper = lessons.paper_rows().set_index("row")
    assert list(paper.index) == list(PAPER_ROWS)
    assert tuple(paper.loc["LLM2Fx-Tools (paper)", ["Acc", "Rank Corr", "MAE", "MRS L"]]) == PAPER_ROWS["LLM2Fx-Tools (paper)"]
    assert paper["MRS R"].isna().all() and (paper["n"] == 900).all()


def test_per_length_figure():
    ours = lessons.benchmark_rows({"analysis": _summary(0.8)}, n_pairs=4)
    axes = lessons.per_length_figure(ours).axes
    assert [ax.get_title() for ax in axes] == ["Acc", "Rank Corr", "MAE", "MRS L"]
    analysis = next(line for line in axes[0].lines if line.get_label() == "analysis")
    assert list(analysis.get_xdata()) == [1, 2] and list(analysis.get_ydata()) == [0.8, 0.8]
    paper = axes[0].lines[-1]
    assert paper.get_linestyle() == "--" and paper.get_ydata()[0] == PAPER_ROWS["LLM2Fx-Tools (paper)"][0]


def test_per_length_figure_bad_input():
    ours = lessons.benchmark_rows({"analysis": _summary(0.8)}, n_pairs=4)
    with pytest.raises(ParameterError, match="needs rows with a chain length"):
        lessons.per_length_figure(ours[ours["chain length"] == "all"])


def test_claims_side_by_side_marks_each_claim_and_counts_them():
    dry, reference, sr, _ = lessons.example_pairs(["piano"], 2.0)["piano"]
    evidence = compare(dry, reference, sr)
    louder = "louder" if evidence.loudness_change_lu > 0 else "quieter"
    a = _result(("gain",), thinking=(Thinking(f"The reference is {louder}. There is <no> distortion here.",
                                              "selection"),))
    b = _result(("reverb",), thinking=(Thinking("Nothing to check here.", "selection"),))
    page = lessons.claims_side_by_side({"a <chat>": a, "b": b}, evidence)
    assert page.count("<h4>") == 2 and "a &lt;chat&gt;" in page and "&lt;no&gt;" in page  # escaped
    assert "title='confirmed: measured" in page and f">{louder}</span>" in page
    assert "<b>0</b> claims found" in page and "<code>reverb</code>" in page
    with pytest.raises(ParameterError, match="at least one"):
        lessons.claims_side_by_side({}, evidence)
