"""What the player's timeline draws: a clip's spectrogram and waveform, packed into a few
kilobytes of bytes for the browser.

Both are pictures on one time axis: the spectrogram as ``uint8`` levels (one byte per cell,
``floor_db .. top_db`` mapped to 0..255, the same scale for every source so dry, reference and
render compare honestly, and a difference view can subtract them), the waveform as the
minimum and maximum of both channels per column (``int8``). A 10 s clip is 51 KB of
spectrogram and 1.6 KB of waveform whatever its sample rate; an edit's preview sends only
the columns under its window (:func:`timeline_patch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from llm2fx_lab.analysis.plot_data import SpectrogramGrid, columns_within, spectrogram_columns, spectrogram_grid
from llm2fx_lab.audio.checks import as_stereo_float32
from llm2fx_lab.errors import ParameterError


@dataclass(frozen=True)
class TimelineConfig:
    """Resolution and level range of the timeline's pictures.

    ``spectrogram_columns`` x ``spectrogram_freqs`` bytes per source and edit (a column per
    25 ms of a 10 s clip); ``wave_columns`` waveform columns; levels from ``floor_db`` (black)
    to ``top_db`` (brightest), in dB re full scale per band.
    """

    spectrogram_columns: int = 400
    spectrogram_freqs: int = 128
    wave_columns: int = 800
    floor_db: float = -100.0
    top_db: float = -10.0

    def __post_init__(self) -> None:
        if not (16 <= self.spectrogram_columns <= 4000 and 16 <= self.spectrogram_freqs <= 512
                and 16 <= self.wave_columns <= 8000):
            raise ParameterError("timeline sizes must be spectrogram_columns in [16, 4000], spectrogram_freqs in "
                                 f"[16, 512] and wave_columns in [16, 8000]; got {self.spectrogram_columns}, "
                                 f"{self.spectrogram_freqs}, {self.wave_columns}")
        if not self.floor_db < self.top_db:
            raise ParameterError(f"timeline floor_db must be below top_db, got {self.floor_db} and {self.top_db}")


@dataclass(frozen=True)
class Timeline:
    """One source's pictures: ``spectrogram`` (freqs x columns, lowest frequency first, row-major)
    and ``wave`` (``min`` then ``max`` per column) as bytes, with ``meta`` (JSON) to place them."""

    spectrogram: bytes
    wave: bytes
    meta: dict[str, Any]


def _levels_u8(level_db: np.ndarray, cfg: TimelineConfig) -> bytes:
    scaled = (np.asarray(level_db, np.float32) - cfg.floor_db) * (255.0 / (cfg.top_db - cfg.floor_db))
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8).tobytes()


def _wave_samples_per_column(n_samples: int, cfg: TimelineConfig) -> int:
    return max(-(-n_samples // cfg.wave_columns), 1)


def _wave_i8(x: np.ndarray, per: int, first: int, count: int, offset: int) -> bytes:
    """min then max (both channels) of columns ``first .. first + count``, int8; ``x`` starts at
    sample ``offset`` and holds every sample of those columns (silence past the clip's end)."""
    seg = x[:, first * per - offset: (first + count) * per - offset]
    blocks = np.pad(seg, ((0, 0), (0, count * per - seg.shape[1]))).reshape(2, count, per)
    return np.concatenate([np.clip(np.round(v * 127), -127, 127)
                           for v in (blocks.min(axis=(0, 2)), blocks.max(axis=(0, 2)))]).astype(np.int8).tobytes()


def _grid(n_samples: int, sample_rate: float, cfg: TimelineConfig) -> SpectrogramGrid:
    return spectrogram_grid(n_samples, sample_rate, cfg.spectrogram_columns, n_freqs=cfg.spectrogram_freqs)


def timeline(audio: Any, sample_rate: float, cfg: TimelineConfig = TimelineConfig()) -> Timeline:
    """The spectrogram and waveform of a ``(channels, samples)`` clip, packed."""
    x = as_stereo_float32(audio)
    n = x.shape[1]
    grid = _grid(n, sample_rate, cfg)
    per = _wave_samples_per_column(n, cfg)
    wave_cols = -(-n // per)
    meta = {"seconds": n / float(sample_rate), "columns": grid.n_columns, "freqs": int(grid.freqs_hz.size),
            "hop_seconds": grid.hop_samples / float(sample_rate), "low_hz": float(grid.freqs_hz[0]),
            "high_hz": float(grid.freqs_hz[-1]), "wave_columns": wave_cols,
            "wave_seconds": per / float(sample_rate), "floor_db": cfg.floor_db, "top_db": cfg.top_db}
    return Timeline(_levels_u8(spectrogram_columns(x, grid), cfg), _wave_i8(x, per, 0, wave_cols, 0), meta)


def timeline_patch(window_audio: Any, start_sample: int, total_samples: int, sample_rate: float,
                   cfg: TimelineConfig = TimelineConfig()) -> Timeline | None:
    """The columns of a ``total_samples`` clip's timeline that ``window_audio`` (its samples from
    ``start_sample`` on) determines exactly; None when it covers no whole column.

    ``meta`` gives ``first``/``count`` (spectrogram columns) and ``wave_first``/``wave_count``.
    """
    x = as_stereo_float32(window_audio)
    grid = _grid(int(total_samples), sample_rate, cfg)
    first, count = columns_within(grid, int(start_sample), int(start_sample) + x.shape[1])
    per = _wave_samples_per_column(int(total_samples), cfg)
    wave_first = -(-int(start_sample) // per)
    wave_count = max((int(start_sample) + x.shape[1]) // per - wave_first, 0)
    if count == 0 and wave_count == 0:
        return None
    spec = _levels_u8(spectrogram_columns(x, grid, first, count, offset_samples=int(start_sample)), cfg) if count else b""
    wave = _wave_i8(x, per, wave_first, wave_count, int(start_sample))
    return Timeline(spec, wave, {"first": first, "count": count, "wave_first": wave_first, "wave_count": wave_count})
