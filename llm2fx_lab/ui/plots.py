"""Live plots: spectra of dry / reference / render with the chain's EQ curve, a waveform
envelope, and the level change across the compressor and limiter (gain reduction).

Plotly ``FigureWidget`` s; traces are downsampled (a few hundred log-spaced frequencies, a
thousand envelope points) and only the render-dependent traces change on an edit, so an
update costs kilobytes, never audio.
"""

from __future__ import annotations

from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from llm2fx_lab.analysis.plot_data import (
    band_levels_db,
    eq_curve_data,
    gain_reduction_data,
    log_frequencies,
    preview_levels_db,
    waveform_data,
)
from llm2fx_lab.fx.chain import Chain

ENVELOPE_POINTS = 800
#: Block length of the gain-reduction traces: 20 ms shows each hit's dip without 1,000 points.
GAIN_BLOCK_SECONDS = 0.02
COLORS = {"dry": "#8d8d8d", "reference": "#e07b00", "render": "#1976d2", "eq": "#2e7d32",
          "compressor": "#6a1b9a", "limiter": "#c62828"}


def _round(a: np.ndarray, decimals: int = 2) -> list[float]:
    # Rounded lists keep the JSON small (a float64 prints 17 digits).
    return np.round(np.nan_to_num(np.asarray(a, np.float64), neginf=-120.0), decimals).tolist()


class SpectrumView(widgets.VBox):
    """Average spectra (dB) of dry, reference and render on a log-frequency axis, EQ curve on the right axis.

    Use alone: ``view = SpectrumView(); view.set_audio("dry", x, sr); view.set_chain(chain, sr)``.
    """

    def __init__(self, sample_rate: float = 44100.0, points: int = 240) -> None:
        self.sample_rate = float(sample_rate)
        self.freqs_hz = log_frequencies(self.sample_rate, points)
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        x = _round(self.freqs_hz, 1)
        for key in ("dry", "reference", "render"):
            fig.add_trace(go.Scatter(x=x, y=[], name=key, mode="lines", line={"color": COLORS[key], "width": 1.5},
                                     visible=True), secondary_y=False)
        fig.add_trace(go.Scatter(x=x, y=[], name="EQ curve", mode="lines",
                                 line={"color": COLORS["eq"], "dash": "dash", "width": 2}), secondary_y=True)
        fig.update_layout(height=300, margin={"l": 50, "r": 50, "t": 30, "b": 40}, title="Spectrum",
                          legend={"orientation": "h", "y": 1.12, "x": 0.35}, uirevision="keep")
        fig.update_xaxes(type="log", title_text="frequency (Hz)", range=[np.log10(20), np.log10(self.freqs_hz[-1])])
        fig.update_yaxes(title_text="level (dBFS)", secondary_y=False)
        fig.update_yaxes(title_text="EQ gain (dB)", range=[-24, 24], secondary_y=True, showgrid=False)
        self.figure = go.FigureWidget(fig)
        self.updates = 0
        self.levels_db: dict[str, np.ndarray] = {}   # key -> unrounded spectrum of the full audio
        self.preview = False                          # the render trace is a phase-1 estimate
        super().__init__([self.figure])

    def set_sample_rate(self, sample_rate: float) -> None:
        """Re-space the frequency axis for another rate (up to just below its Nyquist)."""
        if float(sample_rate) == self.sample_rate:
            return
        self.sample_rate = float(sample_rate)
        self.freqs_hz = log_frequencies(self.sample_rate, len(self.freqs_hz))
        x = _round(self.freqs_hz, 1)
        with self.figure.batch_update():
            for trace in self.figure.data:
                trace.x, trace.y = x, []
            self.levels_db.clear()
            self.figure.layout.xaxis.range = [np.log10(20), np.log10(self.freqs_hz[-1])]

    def _trace(self, name: str) -> Any:
        index = {"dry": 0, "reference": 1, "render": 2, "eq": 3}[name]
        return self.figure.data[index]

    def spectrum(self, audio: np.ndarray, sample_rate: float) -> list[float]:
        return _round(band_levels_db(audio, sample_rate, self.freqs_hz))

    def set_audio(self, key: str, audio: np.ndarray | None, sample_rate: float) -> None:
        """Update the spectrum of ``dry``, ``reference`` or ``render`` (None clears it)."""
        if audio is None:
            self.levels_db.pop(key, None)
            y: list[float] = []
        else:
            self.levels_db[key] = band_levels_db(audio, sample_rate, self.freqs_hz, label=key)
            y = _round(self.levels_db[key])
        trace = self._trace(key)
        with self.figure.batch_update():
            trace.y = y
            if key == "render" and self.preview:
                trace.name, trace.line.dash, self.preview = "render", None, False
        self.updates += 1

    def set_render_preview(self, output: np.ndarray, previous: np.ndarray, sample_rate: float) -> bool:
        """Show the phase-1 estimate of the render's spectrum (dotted, "render (preview)").

        ``output`` / ``previous``: the new chain and the last full render on the same preview
        window (:func:`~llm2fx_lab.analysis.plot_data.preview_levels_db`). False (nothing shown) when
        no full render's spectrum is plotted yet.
        """
        base = self.levels_db.get("render")
        if base is None:
            return False
        y = _round(preview_levels_db(base, output, previous, sample_rate, self.freqs_hz))
        trace = self._trace("render")
        with self.figure.batch_update():
            trace.y = y
            if not self.preview:
                trace.name, trace.line.dash = "render (preview)", "dot"
        self.preview = True
        self.updates += 1
        return True

    def set_chain(self, chain: Chain, sample_rate: float) -> None:
        """Overlay the magnitude response of the chain's equalizer (hidden when there is none or
        it is bypassed)."""
        shown = "equalizer" in chain.names and not chain["equalizer"].bypass
        curve = eq_curve_data(chain["equalizer"], sample_rate, freqs_hz=self.freqs_hz).total_db if shown else None
        trace = self._trace("eq")
        with self.figure.batch_update():
            trace.y = [] if curve is None else _round(curve)
            trace.name = "EQ curve" if curve is not None else "EQ curve (no equalizer)"


class DynamicsView(widgets.VBox):
    """Waveform envelope of reference and render, and the level change across dynamics modules."""

    def __init__(self, sample_rate: float = 44100.0) -> None:
        self.sample_rate = float(sample_rate)
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.08,
                            subplot_titles=("Waveform (min/max envelope)", "Gain reduction (level change across module)"))
        for key in ("reference", "render"):
            color = COLORS[key]
            fig.add_trace(go.Scatter(x=[], y=[], name=f"{key} max", mode="lines", line={"color": color, "width": 1},
                                     legendgroup=key, showlegend=False), row=1, col=1)
            fig.add_trace(go.Scatter(x=[], y=[], name=key, mode="lines", fill="tonexty", line={"color": color, "width": 1},
                                     legendgroup=key, opacity=0.5), row=1, col=1)
        for key in ("compressor", "limiter"):
            fig.add_trace(go.Scatter(x=[], y=[], name=f"{key} (dB)", mode="lines", line={"color": COLORS[key]}),
                          row=2, col=1)
        fig.update_layout(height=340, margin={"l": 50, "r": 20, "t": 40, "b": 40},
                          legend={"orientation": "h", "y": -0.15}, uirevision="keep")
        fig.update_xaxes(title_text="time (s)", row=2, col=1)
        fig.update_yaxes(title_text="amplitude", row=1, col=1)
        fig.update_yaxes(title_text="dB", row=2, col=1)
        self.figure = go.FigureWidget(fig)
        self.updates = 0
        super().__init__([self.figure])

    def set_audio(self, key: str, audio: np.ndarray | None, sample_rate: float) -> None:
        """Envelope of ``reference`` or ``render``."""
        base = {"reference": 0, "render": 2}[key]
        lo_trace, hi_trace = self.figure.data[base], self.figure.data[base + 1]
        with self.figure.batch_update():
            if audio is None:
                lo_trace.x = lo_trace.y = hi_trace.x = hi_trace.y = []
            else:
                wave = waveform_data(audio, sample_rate, ENVELOPE_POINTS)
                lo, hi = wave.minimum.min(axis=0), wave.maximum.max(axis=0)  # both channels' envelope
                t = _round(wave.time_seconds, 3)
                # The max trace is drawn first, then min with fill="tonexty" fills between them.
                # x only changes with the clip length: not resending it halves the update.
                if list(lo_trace.x or ()) != t:
                    lo_trace.x = hi_trace.x = t
                lo_trace.y, hi_trace.y = _round(hi, 3), _round(lo, 3)
        self.updates += 1

    def set_stages(self, chain: Chain, stages: Sequence[tuple[str, np.ndarray]], sample_rate: float) -> None:
        """Gain change across the compressor and limiter of a rendered chain (empty if absent):
        ``stages`` are the signals before and after each module of ``chain`` (``[("input", x),
        (module, x), ...]``, :class:`~llm2fx_lab.ui.state.StageCache`)."""
        changes = {name: gain_reduction_data(stages[i - 1][1], sample_rate, chain[name], GAIN_BLOCK_SECONDS,
                                             output=after)
                   for i, (name, after) in enumerate(stages) if name in ("compressor", "limiter") and i > 0}
        with self.figure.batch_update():
            for i, key in enumerate(("compressor", "limiter")):
                trace = self.figure.data[4 + i]
                if key in changes:
                    data = changes[key]
                    if len(trace.x or ()) != data.time_seconds.shape[0]:
                        trace.x = _round(data.time_seconds, 2)
                    trace.y = _round(data.gain_db, 1)
                else:
                    trace.x, trace.y = [], []


class PlotsView(widgets.VBox):
    """Spectrum and dynamics views together (what the studio shows)."""

    def __init__(self, sample_rate: float = 44100.0) -> None:
        self.spectrum = SpectrumView(sample_rate)
        self.dynamics = DynamicsView(sample_rate)
        super().__init__([self.spectrum, self.dynamics])

    def set_audio(self, key: str, audio: np.ndarray | None, sample_rate: float) -> None:
        self.spectrum.set_sample_rate(sample_rate)
        self.spectrum.set_audio(key, audio, sample_rate)
        if key != "dry":
            self.dynamics.set_audio(key, audio, sample_rate)

    def set_preview(self, chain: Chain, output: np.ndarray, previous: np.ndarray, sample_rate: float) -> bool:
        """Phase 1 of an edit: the estimated render spectrum and the chain's EQ curve only."""
        shown = self.spectrum.set_render_preview(output, previous, sample_rate)
        self.spectrum.set_chain(chain, sample_rate)
        return shown

    def set_render(self, chain: Chain, stages: Sequence[tuple[str, np.ndarray]], sample_rate: float) -> None:
        """Everything that depends on a new render, in one go."""
        output = stages[-1][1]
        self.spectrum.set_audio("render", output, sample_rate)
        self.spectrum.set_chain(chain, sample_rate)
        self.dynamics.set_audio("render", output, sample_rate)
        self.dynamics.set_stages(chain, stages, sample_rate)
