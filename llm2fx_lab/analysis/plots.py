"""Figures from :mod:`llm2fx_lab.analysis.plot_data`: matplotlib (static) and plotly (interactive).

:func:`figure` draws any plot-data object with either backend; the ``mpl_*`` and
``plotly_*`` functions draw one kind each. matplotlib and plotly are imported only when a
figure is made. matplotlib figures are made with ``matplotlib.figure.Figure`` directly (no
pyplot state, no display needed).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from llm2fx_lab.analysis import plot_data as P
from llm2fx_lab.errors import ParameterError

Backend = Literal["matplotlib", "plotly"]
_FREQ_TICKS = [31.5, 63, 125, 250, 500, 1000, 2000, 4000, 8000, 16000]
_CHANNELS = ("left", "right")


def _mpl_axes(ax: Any, rows: int = 1) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2 * rows), layout="constrained")
    return fig, (fig.subplots(rows, 1, sharex=True) if rows > 1 else fig.add_subplot())


def _log_freq_axis_mpl(ax: Any) -> None:
    ax.set_xscale("log")
    ax.set_xticks(_FREQ_TICKS, [f"{f / 1000:g}k" if f >= 1000 else f"{f:g}" for f in _FREQ_TICKS])
    ax.set_xlabel("frequency (Hz)")
    ax.grid(True, which="both", alpha=0.3)


# --- matplotlib ----------------------------------------------------------------------------

def mpl_spectrum(data: P.SpectrumData, ax: Any = None) -> Any:
    fig, ax = _mpl_axes(ax)
    for label, level in data.levels_db.items():
        ax.plot(data.freqs_hz, level, label=label, lw=1.2)
    _log_freq_axis_mpl(ax)
    ax.set_ylabel("level (dB)")
    ax.set_title(f"Average spectrum (1/{round(1 / data.smoothing_octaves)} octave smoothing)")
    ax.legend()
    return fig


def mpl_eq_curve(data: P.EqCurveData, ax: Any = None) -> Any:
    fig, ax = _mpl_axes(ax)
    for label, gain in data.sections_db.items():
        ax.plot(data.freqs_hz, gain, lw=0.8, ls="--", label=label)
    ax.plot(data.freqs_hz, data.total_db, lw=2, color="k", label="equalizer")
    _log_freq_axis_mpl(ax)
    ax.set_ylabel("gain (dB)")
    ax.set_title("Equalizer response (from its parameters)")
    ax.legend()
    return fig


def mpl_dynamics_curve(data: P.DynamicsCurveData, ax: Any = None) -> Any:
    fig, ax = _mpl_axes(ax)
    ax.plot(data.input_db, data.input_db, color="0.7", lw=0.8, label="unity")
    ax.plot(data.input_db, data.output_db, lw=2, label=data.module)
    ax.axvline(data.threshold_db, color="C3", lw=0.8, ls=":", label="threshold")
    ax.set_xlabel("input level (dB)")
    ax.set_ylabel("output level (dB)")
    ax.set_title(f"{data.module} static curve")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return fig


def mpl_gain_reduction(data: P.GainReductionData, ax: Any = None) -> Any:
    fig, ax = _mpl_axes(ax)
    ax.plot(data.time_seconds, data.gain_db, lw=1, label="gain change")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("gain (dB)")
    ax.set_title(f"{data.module} gain over time (measured)")
    ax.grid(True, alpha=0.3)
    return fig


def mpl_spectrogram(data: P.SpectrogramData, ax: Any = None) -> Any:
    fig, ax = _mpl_axes(ax)
    top = float(data.level_db.max())
    mesh = ax.pcolormesh(data.time_seconds, data.freqs_hz, data.level_db, shading="auto",
                         vmin=top - 90, vmax=top, cmap="magma")
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    fig.colorbar(mesh, ax=ax, label="level (dB)")
    ax.set_title("Spectrogram (mid)")
    return fig


def mpl_waveform(data: P.WaveformData, ax: Any = None) -> Any:
    fig, axes = _mpl_axes(ax, rows=2) if ax is None else (ax.figure, [ax, ax])
    for c, a in enumerate(axes):
        a.fill_between(data.time_seconds, data.minimum[c], data.maximum[c], lw=0, alpha=0.6,
                       label=f"{_CHANNELS[c]} waveform")
        env = 10 ** (data.envelope_db[c] / 20)
        a.plot(data.time_seconds, env, color="C3", lw=0.8, label=f"{_CHANNELS[c]} RMS envelope")
        a.set_ylabel(_CHANNELS[c])
        a.legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel("time (s)")
    return fig


def mpl_vectorscope(data: P.VectorscopeData, ax: Any = None) -> Any:
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(4.5, 4.5), layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    ax.scatter(data.side, data.mid, s=1, alpha=0.3)
    lim = float(max(np.abs(data.side).max(), np.abs(data.mid).max(), 1e-6)) * 1.05
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("side (R-L)/sqrt2")
    ax.set_ylabel("mid (L+R)/sqrt2")
    ax.set_title(f"Vectorscope (correlation {data.correlation:+.2f})")
    return fig


# --- plotly --------------------------------------------------------------------------------

def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _log_freq_layout(fig: Any, y_title: str, title: str) -> Any:
    fig.update_xaxes(type="log", title="frequency (Hz)", tickvals=_FREQ_TICKS)
    fig.update_yaxes(title=y_title)
    fig.update_layout(title=title, template="plotly_white", margin=dict(l=50, r=20, t=40, b=40))
    return fig


def plotly_spectrum(data: P.SpectrumData) -> Any:
    go = _go()
    fig = go.Figure([go.Scatter(x=data.freqs_hz, y=level, name=label, mode="lines")
                     for label, level in data.levels_db.items()])
    return _log_freq_layout(fig, "level (dB)", "Average spectrum")


def plotly_eq_curve(data: P.EqCurveData) -> Any:
    go = _go()
    traces = [go.Scatter(x=data.freqs_hz, y=g, name=label, mode="lines", line=dict(dash="dash", width=1))
              for label, g in data.sections_db.items()]
    traces.append(go.Scatter(x=data.freqs_hz, y=data.total_db, name="equalizer", mode="lines",
                             line=dict(width=3, color="black")))
    return _log_freq_layout(go.Figure(traces), "gain (dB)", "Equalizer response")


def plotly_dynamics_curve(data: P.DynamicsCurveData) -> Any:
    go = _go()
    fig = go.Figure([go.Scatter(x=data.input_db, y=data.input_db, name="unity", mode="lines",
                                line=dict(color="lightgray")),
                     go.Scatter(x=data.input_db, y=data.output_db, name=data.module, mode="lines")])
    fig.add_vline(x=data.threshold_db, line_dash="dot")
    fig.update_layout(title=f"{data.module} static curve", xaxis_title="input level (dB)",
                      yaxis_title="output level (dB)", template="plotly_white")
    return fig


def plotly_gain_reduction(data: P.GainReductionData) -> Any:
    go = _go()
    fig = go.Figure([go.Scatter(x=data.time_seconds, y=data.gain_db, name="gain change", mode="lines")])
    fig.update_layout(title=f"{data.module} gain over time", xaxis_title="time (s)",
                      yaxis_title="gain (dB)", template="plotly_white")
    return fig


def plotly_spectrogram(data: P.SpectrogramData) -> Any:
    go = _go()
    top = float(data.level_db.max())
    fig = go.Figure([go.Heatmap(x=data.time_seconds, y=data.freqs_hz, z=data.level_db, zmin=top - 90,
                                zmax=top, colorscale="Magma", colorbar=dict(title="dB"))])
    fig.update_yaxes(type="log", title="frequency (Hz)")
    fig.update_layout(title="Spectrogram (mid)", xaxis_title="time (s)", template="plotly_white")
    return fig


def plotly_waveform(data: P.WaveformData) -> Any:
    go = _go()
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_titles=list(_CHANNELS))
    for c in range(2):
        fig.add_trace(go.Scatter(x=data.time_seconds, y=data.maximum[c], mode="lines", line=dict(width=0),
                                 showlegend=False, name=f"{_CHANNELS[c]} max"), row=c + 1, col=1)
        fig.add_trace(go.Scatter(x=data.time_seconds, y=data.minimum[c], mode="lines", line=dict(width=0),
                                 fill="tonexty", name=f"{_CHANNELS[c]} waveform"), row=c + 1, col=1)
        fig.add_trace(go.Scatter(x=data.time_seconds, y=10 ** (data.envelope_db[c] / 20), mode="lines",
                                 name=f"{_CHANNELS[c]} RMS envelope"), row=c + 1, col=1)
    fig.update_layout(title="Waveform and envelope", template="plotly_white")
    return fig


def plotly_vectorscope(data: P.VectorscopeData) -> Any:
    go = _go()
    fig = go.Figure([go.Scattergl(x=data.side, y=data.mid, mode="markers", marker=dict(size=2, opacity=0.4),
                                  name="samples")])
    fig.update_xaxes(title="side (R-L)/sqrt2", scaleanchor="y")
    fig.update_yaxes(title="mid (L+R)/sqrt2")
    fig.update_layout(title=f"Vectorscope (correlation {data.correlation:+.2f})", template="plotly_white")
    return fig


_DRAW = {
    P.SpectrumData: (mpl_spectrum, plotly_spectrum),
    P.EqCurveData: (mpl_eq_curve, plotly_eq_curve),
    P.DynamicsCurveData: (mpl_dynamics_curve, plotly_dynamics_curve),
    P.GainReductionData: (mpl_gain_reduction, plotly_gain_reduction),
    P.SpectrogramData: (mpl_spectrogram, plotly_spectrogram),
    P.WaveformData: (mpl_waveform, plotly_waveform),
    P.VectorscopeData: (mpl_vectorscope, plotly_vectorscope),
}


def figure(data: Any, backend: Backend = "matplotlib", ax: Any = None) -> Any:
    """Draw any plot-data object with matplotlib (a ``Figure``) or plotly (a ``go.Figure``).

    Examples
    --------
    >>> from llm2fx_lab.analysis.plot_data import dynamics_curve_data
    >>> fig = figure(dynamics_curve_data({"name": "compressor", "arguments": {"ratio": 4}}), "plotly")
    >>> len(fig.data)
    2
    """
    pair = _DRAW.get(type(data))
    if pair is None:
        raise ParameterError(f"no plot for {type(data).__name__}; pass the result of a llm2fx_lab.analysis.plot_data function")
    if backend == "matplotlib":
        return pair[0](data, ax)
    if backend == "plotly":
        if ax is not None:
            raise ParameterError("ax is a matplotlib argument; plotly figures take none")
        return pair[1](data)
    raise ParameterError(f"backend must be 'matplotlib' or 'plotly', got {backend!r}")
