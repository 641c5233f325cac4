"""The multi-resolution STFT distance (auraloss's ``MultiResolutionSTFTLoss``), in one place.

Two implementations of one definition, sharing :data:`RESOLUTIONS` and :data:`EPS`:

- NumPy/SciPy (:func:`mrstft_distance`, :class:`ClipSpectra`): the paper's MRS metric, the
  order search of the analysis planner, and the data generator's similarity filter
  (:mod:`llm2fx_lab.data.similarity`: the official generator,
  ``preprocessing/fx_processor/fx_sampling_ndsp.py``, drops a chain when
  ``auraloss.freq.MultiResolutionSTFTLoss()(wet, dry)`` is small); tested against auraloss to
  1e-4 relative;
- torch (:func:`mrstft_loss`, :func:`torch_magnitudes`): batched and differentiable, for
  refinement's gradient descent and the order search on a GPU.

The definition:

- resolutions FFT 1024/2048/512, hop 120/240/50, window 600/1200/240 (auraloss defaults);
- ``torch.stft`` semantics: periodic Hann window zero-padded to the FFT size in the
  middle, ``center=True`` with reflect padding;
- magnitudes ``sqrt(max(|X|^2, 1e-8))``;
- per resolution: spectral convergence ``||Y - X||_F / ||Y||_F`` plus the mean absolute
  difference of natural-log magnitudes, both over all channels at once (the official
  call passes a ``(1, 2, samples)`` stereo pair); the mean over resolutions.

Speed, for the generator's filter:

- The dry clip's spectra (:class:`ClipSpectra`) are computed block by block (a block is a
  run of consecutive frames of one channel at one resolution), only when a comparison needs
  them, and kept for every later candidate chain on the same segment.
- :func:`bounded_distance` stops as soon as the distance is certain to reach a threshold. Every term of
  the distance only grows as blocks are added (sums of squares and of absolute values), so
  the blocks seen so far give a lower bound; the spectral convergence's denominator
  ``||Y||_F`` is bounded from above without the dry's FFT, by Parseval's theorem (below).
  Blocks are visited spread over time and interleaved across resolutions, so the bound
  approaches the distance evenly. A chain that fails is always measured in full, so the
  filter's keep/drop decision is the full computation's (within float rounding at the threshold).

Parseval bound: for a frame ``u`` (the windowed samples, zero-padded to ``N``), the one-sided
power spectrum sums to ``(N * E + X_0^2 + X_{N/2}^2) / 2`` with ``E = sum u^2``; by
Cauchy-Schwarz ``X_0^2 + X_{N/2}^2 = 2 (sum_even u)^2 + 2 (sum_odd u)^2 <= (win + 1) E``, and
the magnitude floor adds at most ``1e-8`` per bin. ``E`` summed over a block's frames is
``sum_n w_n^2 sum_f x[t_f + n]^2``, a difference of cumulative sums of ``x^2`` per hop
residue: linear time, no FFT.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import scipy.fft

from llm2fx_lab.errors import AudioError

if TYPE_CHECKING:
    import torch

#: auraloss ``MultiResolutionSTFTLoss`` defaults: (fft size, hop, window length).
RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
#: auraloss ``STFTLoss`` magnitude floor (applied to the power).
EPS = 1e-8

#: Frames per FFT block: small enough that a block's buffers stay in the CPU cache.
_BLOCK_BYTES = 1 << 20
#: The magnitude floor: auraloss's ``sqrt(max(|X|^2, EPS))`` is ``max(|X|, sqrt(EPS))``.
_MAG_FLOOR = np.sqrt(np.float32(EPS))
#: Head room on the Parseval bound of ``||Y||_F^2`` for float32 FFT rounding.
_NORM_SAFETY = 1.001


@functools.lru_cache(maxsize=8)
def _window(win_length: int) -> np.ndarray:
    n = np.arange(win_length)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)).astype(np.float32)  # periodic


def _centre_pad(x: np.ndarray, resolutions: Sequence[tuple[int, int, int]]) -> tuple[np.ndarray, int]:
    """``x`` reflect-padded once by the largest half FFT size (every smaller centre padding is a
    slice of it); returns (padded, pad)."""
    for n_fft, _, _ in resolutions:
        if x.shape[-1] <= n_fft // 2:
            raise AudioError(f"clip of {x.shape[-1]} samples is too short for an STFT of {n_fft} points")
    pad = max(r[0] // 2 for r in resolutions)
    return np.pad(x, ((0, 0), (pad, pad)), mode="reflect"), pad


def as_clip(audio: Any) -> np.ndarray:
    """``audio`` as a finite ``(channels, samples)`` float32 array (mono stays one channel)."""
    x = np.asarray(audio, dtype=np.float32)
    x = x[None] if x.ndim == 1 else x
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise AudioError(f"audio must be (channels, samples) and finite, got shape {x.shape}")
    return x


@dataclass(frozen=True)
class _Grid:
    """One resolution's frame geometry for a clip of ``n_samples`` (centre-padded by ``pad``)."""

    n_fft: int
    hop: int
    win_length: int
    n_frames: int
    block: int  # frames per block
    left: int  # first sample of frame 0 in the padded clip

    @classmethod
    def of(cls, resolution: Sequence[int], n_samples: int, pad: int) -> "_Grid":
        n_fft, hop, win_length = (int(v) for v in resolution)
        # torch.stft(center=True): 1 + (n + 2 * (n_fft // 2) - n_fft) // hop frames; the window sits
        # centred in the FFT frame and only its non-zero part is read (the offset is a pure phase
        # shift, which the magnitudes do not see)
        return cls(n_fft, hop, win_length, 1 + n_samples // hop, max(1, _BLOCK_BYTES // (8 * n_fft)),
                   pad - n_fft // 2 + (n_fft - win_length) // 2)

    @property
    def n_blocks(self) -> int:
        return -(-self.n_frames // self.block)

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def frames(self, padded: np.ndarray) -> np.ndarray:
        """Strided (channels, frames, win_length) view of the padded clip (no copy)."""
        view = np.lib.stride_tricks.sliding_window_view(padded[:, self.left:], self.win_length, axis=-1)
        return view[:, : (self.n_frames - 1) * self.hop + 1: self.hop]

    def span(self, b: int) -> tuple[int, int]:
        return b * self.block, min((b + 1) * self.block, self.n_frames)

    def spectrum(self, frames: np.ndarray, ch: int, b: int, buf: np.ndarray) -> np.ndarray:
        """rfft (complex64) of block ``b`` of channel ``ch``; ``buf`` is this grid's scratch array
        (:meth:`scratch`), whose columns past the window stay zero."""
        start, stop = self.span(b)
        out = buf[: stop - start]
        np.multiply(frames[ch, start:stop], _window(self.win_length), out=out[:, : self.win_length])
        return scipy.fft.rfft(out, axis=-1)

    def scratch(self) -> np.ndarray:
        return np.zeros((self.block, self.n_fft), np.float32)

    def energy_bounds(self, cum_sq: np.ndarray) -> np.ndarray:
        """Upper bounds of each block's sum of floored one-sided powers, (channels, blocks);
        ``cum_sq`` is the cumulative sum of the padded clip's squares with a leading 0."""
        start = np.arange(self.n_blocks) * self.block
        stop = np.minimum(start + self.block, self.n_frames)
        lo, hi = self.left + start * self.hop, self.left + (stop - 1) * self.hop + self.win_length
        energy = _ola_peak(self.win_length, self.hop) * (cum_sq[:, hi] - cum_sq[:, lo])  # >= sum of u^2
        return (self.n_fft + self.win_length + 1) / 2 * energy + (stop - start) * self.n_bins * EPS


@functools.lru_cache(maxsize=8)
def _ola_peak(win_length: int, hop: int) -> float:
    """The most squared-window weight any one sample gets over all frames covering it: a
    block's ``sum u^2`` is at most this times the energy of the samples it spans."""
    w2 = _window(win_length).astype(np.float64) ** 2
    return float(max(w2[p::hop].sum() for p in range(hop)))


def _spread_order(n: int) -> list[int]:
    """0..n-1 in van der Corput order: every prefix is spread evenly over the range."""
    order, seen, k = [], set(), 0
    while len(order) < n:
        v, f, j = 0.0, 0.5, k
        while j:
            v, j, f = v + f * (j & 1), j >> 1, f / 2
        b = int(v * n)
        if b not in seen:
            seen.add(b)
            order.append(b)
        k += 1
    return order


@functools.lru_cache(maxsize=16)
def _schedule(n_blocks: tuple[int, ...], n_channels: int) -> tuple[tuple[int, int, int], ...]:
    tasks = []
    for r, n in enumerate(n_blocks):
        for k, b in enumerate(_spread_order(n)):
            tasks += [((k + 0.5) / n, r, ch, b) for ch in range(n_channels)]
    return tuple((r, ch, b) for _, r, ch, b in sorted(tasks))


class ClipSpectra:
    """A clip's magnitude and log-magnitude spectrograms at each resolution, computed block by
    block when first needed (:meth:`block`) and kept; the target side of :func:`mrstft_distance`
    and :func:`similarity_filter`."""

    def __init__(self, audio: Any, resolutions: Sequence[tuple[int, int, int]] = RESOLUTIONS):
        x = as_clip(audio)
        self.padded, self.pad = _centre_pad(x, resolutions)
        self.n_channels, self.n_samples = x.shape
        self.resolutions = tuple(tuple(int(v) for v in r) for r in resolutions)
        self.grids = tuple(_Grid.of(r, self.n_samples, self.pad) for r in self.resolutions)
        shapes = [(self.n_channels, g.n_frames, g.n_bins) for g in self.grids]
        self.mag = [np.empty(s, np.float32) for s in shapes]
        self.logmag = [np.empty(s, np.float32) for s in shapes]
        #: exact squared norm of each block's floored magnitudes, NaN until it is computed
        self.block_sq_norms = [np.full((self.n_channels, g.n_blocks), np.nan) for g in self.grids]
        self._frames = [g.frames(self.padded) for g in self.grids]
        self._bounds: list[np.ndarray] | None = None
        self._upper: list[float] = []
        self._bufs = [g.scratch() for g in self.grids]

    @property
    def size(self) -> list[int]:
        return [m.size for m in self.mag]

    def block(self, r: int, ch: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """(magnitude, log magnitude) of block ``b`` of channel ``ch`` at resolution ``r``."""
        g = self.grids[r]
        start, stop = g.span(b)
        mag, lg = self.mag[r][ch, start:stop], self.logmag[r][ch, start:stop]
        if math.isnan(self.block_sq_norms[r][ch, b]):
            np.abs(g.spectrum(self._frames[r], ch, b, self._bufs[r]), out=mag)
            np.maximum(mag, _MAG_FLOOR, out=mag)
            np.square(mag, out=lg)  # scratch: the squared norm, summed pairwise while in cache
            sq = float(lg.sum())
            np.log(mag, out=lg)
            self.block_sq_norms[r][ch, b] = sq
            if self._bounds is not None:  # the exact value replaces the bound
                self._upper[r] += sq * _NORM_SAFETY - self._bounds[r][ch, b]
        return mag, lg

    def norm_upper(self, r: int) -> float:
        """An upper bound of ``||Y||_F^2`` at resolution ``r`` from what is computed so far."""
        if self._bounds is None:
            cum_sq = np.zeros((self.n_channels, self.padded.shape[1] + 1))
            np.cumsum(np.square(self.padded, dtype=np.float64), axis=1, out=cum_sq[:, 1:])
            self._bounds = [g.energy_bounds(cum_sq) * _NORM_SAFETY for g in self.grids]
            self._upper = [float(np.where(np.isnan(n), bd, n * _NORM_SAFETY).sum())
                           for bd, n in zip(self._bounds, self.block_sq_norms)]
        return self._upper[r]

    def sq_norm(self, r: int) -> float:
        """The exact ``||Y||_F^2`` at resolution ``r`` (computes the missing blocks), summed in
        channel-then-time order whatever order the blocks were computed in."""
        for ch in range(self.n_channels):
            for b in range(self.grids[r].n_blocks):
                self.block(r, ch, b)
        total = 0.0
        for v in self.block_sq_norms[r].ravel():
            total += float(v)
        return total

    @property
    def schedule(self) -> tuple[tuple[int, int, int], ...]:
        """Every (resolution, channel, block), spread over time within each resolution and
        channel, interleaved so that all of them advance at the same pace."""
        return _schedule(tuple(g.n_blocks for g in self.grids), self.n_channels)

    def complete(self) -> "_Spectra":
        """Compute every block; returns the list of ``(magnitude, log magnitude)`` pairs."""
        out = _Spectra(zip(self.mag, self.logmag))
        out.resolutions = self.resolutions
        out.sq_norms = tuple(self.sq_norm(r) for r in range(len(self.grids)))
        out.clip = self
        return out


class _Spectra(list):
    """:func:`mrstft_spectra`'s list of ``(magnitude, log magnitude)`` pairs, one per resolution,
    plus its resolutions, squared Frobenius norms and the :class:`ClipSpectra` it came from."""

    resolutions: tuple[tuple[int, int, int], ...] = ()
    sq_norms: tuple[float, ...] = ()
    clip: ClipSpectra | None = None


def bounded_distance(x: np.ndarray, target: ClipSpectra, stop_at: float | None = None) -> tuple[float, bool]:
    """The distance of the clip ``x`` (``(channels, samples)`` float32, ``target``'s shape) to
    ``target``, never storing x's spectra; returns ``(distance, exact)``. With ``stop_at``, stops
    once the distance is certain to be at least ``stop_at`` and returns the lower bound reached
    (``exact`` False)."""
    if not fits(x, target):
        raise AudioError(f"clips differ in shape: {x.shape} vs {(target.n_channels, target.n_samples)}")
    padded, pad = _centre_pad(x, target.resolutions)
    grids, n_res = target.grids, len(target.grids)
    frames = [g.frames(padded) for g in grids]
    bufs = [g.scratch() for g in grids]
    sq = [np.zeros((x.shape[0], g.n_blocks)) for g in grids]
    ab = [np.zeros((x.shape[0], g.n_blocks)) for g in grids]
    sq_run, ab_run = [0.0] * n_res, [0.0] * n_res
    size = target.size
    for r, ch, b in target.schedule:
        g = grids[r]
        y_mag, y_log = target.block(r, ch, b)
        m = np.abs(g.spectrum(frames[r], ch, b, bufs[r]))
        np.maximum(m, _MAG_FLOOR, out=m)
        lg = np.log(m)
        np.subtract(lg, y_log, out=lg)
        np.abs(lg, out=lg)
        a = float(lg.sum())
        np.subtract(y_mag, m, out=m)
        np.square(m, out=m)
        s = float(m.sum())  # pairwise summation: BLAS sdot loses ~1e-5 here
        sq[r][ch, b], ab[r][ch, b] = s, a
        if stop_at is not None:
            sq_run[r] += s
            ab_run[r] += a
            bound = sum(math.sqrt(sq_run[i]) / math.sqrt(target.norm_upper(i)) + ab_run[i] / size[i]
                        for i in range(n_res))
            if bound / n_res >= stop_at:
                return bound / n_res, False
    total = 0.0
    for r in range(n_res):
        sq_diff = abs_log = 0.0
        for s, a in zip(sq[r].ravel(), ab[r].ravel()):  # channel-then-time order, as the norms
            sq_diff += float(s)
            abs_log += float(a)
        total += math.sqrt(sq_diff) / math.sqrt(target.sq_norm(r)) + abs_log / size[r]
    return total / n_res, True


def mrstft_spectra(audio: Any, resolutions: Sequence[tuple[int, int, int]] = RESOLUTIONS) -> list:
    """Magnitude spectrograms of ``audio`` at each resolution (reuse for many comparisons).

    Parameters
    ----------
    audio : array_like, shape (samples,) or (channels, samples)
        Mono is kept mono here (one channel); pass stereo for the official filter.
    """
    return ClipSpectra(audio, resolutions).complete()


def fits(x: np.ndarray, target: ClipSpectra) -> bool:
    """True when the clip ``x`` has the shape of the clip ``target`` was computed from."""
    return x.shape == (target.n_channels, target.n_samples)


def mrstft_distance(estimate: Any, target: Any) -> float:
    """auraloss ``MultiResolutionSTFTLoss()(estimate, target)`` for ``(channels, samples)`` clips.

    Either argument may also be the output of :func:`mrstft_spectra`, and ``target`` a
    :class:`ClipSpectra` (for speed). The official filter calls it with ``estimate=wet``,
    ``target=dry``; spectral convergence is normalised by the target.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32)
    >>> mrstft_distance(x, x)
    0.0
    """
    clip = target if isinstance(target, ClipSpectra) else target.clip if isinstance(target, _Spectra) else None
    if clip is None and not isinstance(target, list):
        clip = ClipSpectra(target)
    if clip is not None and not isinstance(estimate, list):
        x = as_clip(estimate)
        if fits(x, clip):
            # fast path: the estimate's spectra are streamed block by block, never stored
            return bounded_distance(x, clip)[0]
    ys = clip.complete() if clip is not None else target
    xs = estimate if isinstance(estimate, list) else mrstft_spectra(estimate, ys.resolutions or RESOLUTIONS)
    if len(xs) != len(ys):
        raise AudioError("estimate and target spectra were computed at different resolutions")
    total = 0.0
    for (x_mag, x_log), (y_mag, y_log) in zip(xs, ys):
        if x_mag.shape != y_mag.shape:
            raise AudioError(f"estimate and target differ in shape: {x_mag.shape} vs {y_mag.shape}")
        diff = y_mag - x_mag
        sc = float(np.sqrt(np.vdot(diff, diff).real) / np.sqrt(np.vdot(y_mag, y_mag).real))
        total += sc + float(np.abs(x_log - y_log).mean(dtype=np.float64))
    return total / len(xs)


# --- torch: batched and differentiable -------------------------------------------------------
# torch is imported inside these functions only: the NumPy distance above (metrics, the data
# filter, the order search on the CPU) must not pay for importing it.

def torch_magnitudes(x: "torch.Tensor", resolutions: Sequence[tuple[int, int, int]] = RESOLUTIONS
                     ) -> list["torch.Tensor"]:
    """Floored STFT magnitudes of ``x`` (``(batch, channels, samples)``) at each resolution,
    each ``(batch, channels, frames * bins)``; the target side of :func:`mrstft_loss`."""
    import torch

    b, c, n = x.shape
    out = []
    for n_fft, hop, win in resolutions:
        window = torch.hann_window(win, device=x.device, dtype=x.dtype)
        spec = torch.stft(x.reshape(b * c, n), n_fft, hop, win, window, return_complex=True)
        out.append(torch.sqrt(torch.clamp(spec.real ** 2 + spec.imag ** 2, min=EPS)).reshape(b, c, -1))
    return out


def mrstft_loss(estimate: "torch.Tensor", target: "torch.Tensor | list[torch.Tensor]") -> "torch.Tensor":
    """:func:`mrstft_distance` in torch, per batch item: ``(batch,)``.

    ``estimate``, ``target``: ``(batch, channels, samples)``; ``target`` may be its
    :func:`torch_magnitudes`, to compute them once for many estimates (a batch of one target
    broadcasts over the estimates).
    """
    import torch

    targets = target if isinstance(target, list) else torch_magnitudes(target)
    total = estimate.new_zeros(estimate.shape[0])
    for xm, ym in zip(torch_magnitudes(estimate), targets):
        sc = torch.linalg.vector_norm(ym - xm, dim=(1, 2)) / torch.linalg.vector_norm(ym, dim=(1, 2))
        total = total + sc + (torch.log(ym) - torch.log(xm)).abs().mean(dim=(1, 2))
    return total / len(targets)
