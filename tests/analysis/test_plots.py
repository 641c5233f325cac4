import sys

import matplotlib
import numpy as np
import pytest

from llm2fx_lab.analysis import plot_data as P
from llm2fx_lab.analysis.plots import figure
from llm2fx_lab.errors import ParameterError, ToolCallError

matplotlib.use("Agg")
SR = 44100


def test_import_is_light():
    import subprocess

    code = ("import sys, llm2fx_lab.analysis; "
            "print(sorted(m for m in ('matplotlib', 'plotly', 'auraloss', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_spectrum_overlay_is_light(noise):
    data = P.spectrum_data({"dry": noise, "reference": noise * 0.5, "estimate": noise * 0.7}, SR)
    fig = figure(data, "plotly")
    assert [t.name for t in fig.data] == ["dry", "reference", "estimate"]
    assert all(len(t.x) <= 5000 for t in fig.data)
    assert fig.layout.xaxis.type == "log"
    # halving the amplitude lowers the trace by 6 dB
    assert np.allclose(data.levels_db["reference"] - data.levels_db["dry"], -6.02, atol=0.01)
    mpl = figure(data)
    assert [line.get_label() for line in mpl.axes[0].get_lines()] == ["dry", "reference", "estimate"]


def test_eq_curve_matches_parameters():
    data = P.eq_curve_data({"mid_gain_db": 9, "mid_cutoff_freq": 1000, "mid_q_factor": 2}, SR)
    i = int(np.argmin(np.abs(data.freqs_hz - 1000)))
    assert data.total_db[i] == pytest.approx(9.0, abs=0.1)
    assert abs(data.total_db[0]) < 0.1
    chain = [{"name": "gain", "arguments": {}}, {"name": "equalizer", "arguments": {"low_gain_db": -6}}]
    assert P.eq_curve_data(chain, SR).total_db[0] == pytest.approx(-6.0, abs=0.2)
    assert len(figure(data, "plotly").data) == 4
    with pytest.raises(ToolCallError, match="no equalizer"):
        P.eq_curve_data([{"name": "gain", "arguments": {}}], SR)


def test_dynamics_curves():
    comp = P.dynamics_curve_data({"name": "compressor", "arguments": {"threshold_db": -20, "ratio": 4}})
    assert np.interp(0.0, comp.input_db, comp.output_db) == pytest.approx(-15.0)
    lim = P.dynamics_curve_data({"name": "limiter", "arguments": {"threshold_db": -1}})
    assert lim.output_db[0] - lim.input_db[0] == pytest.approx(4.75)
    assert len(figure(lim).axes[0].get_lines()) == 3
    with pytest.raises(ToolCallError):
        P.dynamics_curve_data({"name": "gain", "arguments": {}})


def test_gain_reduction_is_measured(noise):
    loud = noise * 5
    data = P.gain_reduction_data(loud, SR, {"name": "compressor",
                                            "arguments": {"threshold_db": -20, "ratio": 8, "attack_ms": 1}})
    assert np.median(data.gain_db[10:]) < -5
    assert len(figure(data, "plotly").data) == 1


def test_spectrogram_waveform_vectorscope(noise):
    spec = P.spectrogram_data(noise, SR)
    assert spec.level_db.shape == (spec.freqs_hz.size, spec.time_seconds.size)
    assert spec.time_seconds.size <= 400
    wave = P.waveform_data(noise, SR, columns=500)
    assert wave.minimum.shape[0] == 2 and 490 <= wave.minimum.shape[1] <= 500 and np.all(wave.minimum <= wave.maximum)
    vec = P.vectorscope_data(np.stack([noise[0], noise[0]]))
    assert np.allclose(vec.side, 0) and vec.correlation == pytest.approx(1.0)
    for data in (spec, wave, vec):
        assert figure(data).axes
        assert len(figure(data, "plotly").data) >= 1
    assert len(figure(wave, "plotly").data) == 6


def test_bad_input():
    with pytest.raises(ParameterError):
        figure(object())
    with pytest.raises(ParameterError):
        figure(P.vectorscope_data(np.zeros((2, 10))), "bokeh")
    with pytest.raises(ParameterError):
        P.spectrum_data({}, SR)
    with pytest.raises(ParameterError):
        P.spectrum_data({"x": np.zeros(100)}, SR, max_points=100000)


def test_spectrogram_grid_columns_from_a_part_of_the_clip_are_exact(noise):
    second = noise[:, :SR]
    x = np.concatenate([second * g for g in (1.0, 0.3, 2.0, 0.5)], axis=1)
    grid = P.spectrogram_grid(x.shape[1], SR, max_frames=300, n_freqs=96)
    assert grid.n_columns <= 300 and grid.hop_samples * grid.n_columns >= x.shape[1]
    full = P.spectrogram_columns(x, grid)
    assert full.shape == (96, grid.n_columns)
    for a, b in ((30_000, 100_000), (0, 50_000), (120_000, x.shape[1])):  # inside, at the start, at the end
        first, count = P.columns_within(grid, a, b)
        assert count > 0
        np.testing.assert_array_equal(P.spectrogram_columns(x[:, a:b], grid, first, count, offset_samples=a),
                                      full[:, first:first + count])
    # a louder second: its columns are louder by the gain (6 dB for x2 against x1, within a frame's leak)
    t = grid.time_seconds
    first_s, third_s = full[:, (t > 0.1) & (t < 0.9)], full[:, (t > 2.1) & (t < 2.9)]
    assert abs(np.median(third_s - first_s) - 20 * np.log10(2.0)) < 0.5
    with pytest.raises(ParameterError, match="outside the grid"):
        P.spectrogram_columns(x, grid, grid.n_columns - 1, 5)


def test_spectrogram_grid_of_a_long_clip_caps_the_frames_per_column():
    grid = P.spectrogram_grid(10 * 60 * SR, SR, max_frames=400)
    assert grid.sub_frames == P.MAX_SUB_FRAMES and grid.n_columns == 400
    with pytest.raises(ParameterError, match="needs samples"):
        P.spectrogram_grid(0, SR)
