"""Audio encoders: ``waveform (batch, 2, samples) -> features (batch, frames, dim)``.

- :class:`EffectsEncoder`: the built-in, trainable encoder designed for effects. It sees
  mid and side separately (width, panning), multi-resolution log band energies (EQ,
  distortion harmonics, reverb smearing), a frame loudness curve (compression, gain) and
  per-band dynamics statistics (one global token), then a strided conv stack and a small
  transformer. It needs no external weights.
- :class:`PairComparison`: the optional third token group, computed from *both* clips so
  a small model does not have to learn subtraction: per-frame band level differences and
  the frame gain curve (reference minus dry, in dB), plus two global tokens: the transfer
  function estimated by regularised deconvolution (band magnitudes) and the log energy
  envelope of the deconvolved impulse response (delay echoes, reverb decay).

:func:`check_waveform` is the shared input check (shape, rate, length, finiteness).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from llm2fx_lab.errors import AudioError
from llm2fx_lab.model.config import EncoderConfig

_EPS = 1e-8


def check_waveform(x: torch.Tensor, cfg: EncoderConfig, sample_rate: float | None = None,
                   name: str = "audio") -> torch.Tensor:
    """Validate a batch ``(batch, 2, samples)`` for an encoder; returns it as float.

    Raises
    ------
    AudioError
        Wrong rank or channel count, wrong sample rate, shorter than ``cfg.min_seconds``,
        or not finite.
    """
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3 or x.shape[1] != 2:
        raise AudioError(f"{name} must have shape (batch, 2, samples), got {tuple(x.shape)}")
    if sample_rate is not None and int(round(sample_rate)) != cfg.sample_rate:
        raise AudioError(f"{name} sample rate must be {cfg.sample_rate} Hz for this model, got "
                         f"{sample_rate:g} Hz (resample with llm2fx_lab.audio.resample)")
    need = int(math.ceil(cfg.min_seconds * cfg.sample_rate))
    if x.shape[-1] < need:
        raise AudioError(f"{name} is {x.shape[-1] / cfg.sample_rate:.3f} s long; this encoder needs at "
                         f"least {cfg.min_seconds:g} s ({need} samples at {cfg.sample_rate} Hz)")
    if not torch.isfinite(x).all():
        raise AudioError(f"{name} contains NaN or infinite samples")
    return x.float()


def band_matrix(n_fft: int, n_bands: int, sample_rate: int, f_min: float = 30.0) -> torch.Tensor:
    """Triangular, log-spaced band weights ``(n_bands, n_fft // 2 + 1)``, rows summing to 1."""
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = np.geomspace(f_min, sample_rate / 2, n_bands + 2)
    w = np.zeros((n_bands, freqs.size))
    for b in range(n_bands):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        w[b] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
        if w[b].sum() == 0:  # band narrower than a bin at low n_fft: take the nearest bin
            w[b, np.argmin(np.abs(freqs - mid))] = 1.0
    return torch.tensor(w / w.sum(axis=1, keepdims=True), dtype=torch.float32)


def mid_side(x: torch.Tensor) -> torch.Tensor:
    """``(B, 2, T)`` left/right -> ``(B, 2, T)`` mid/side."""
    return torch.stack([(x[:, 0] + x[:, 1]) / 2, (x[:, 0] - x[:, 1]) / 2], dim=1)


def band_db(x: torch.Tensor, n_fft: int, hop: int, bands: torch.Tensor) -> torch.Tensor:
    """Band energies in dB ``(B, C, frames, n_bands)`` of ``(B, C, T)`` audio."""
    B, C, T = x.shape
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x.reshape(B * C, T), n_fft, hop, window=window, center=True, return_complex=True)
    power = spec.real ** 2 + spec.imag ** 2  # (B*C, bins, frames)
    e = torch.einsum("nf,bft->btn", bands.to(x.device), power)
    return (10 * torch.log10(e + 1e-10)).reshape(B, C, e.shape[1], -1)


class EffectsEncoder(nn.Module):
    """Built-in trainable effects encoder; ``forward(x)`` maps ``(B, 2, T)`` to ``(B, 1 + frames, dim)``."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        for i, n in enumerate(cfg.n_ffts):
            self.register_buffer(f"bands{i}", band_matrix(n, cfg.n_bands, cfg.sample_rate), persistent=False)
        n_in = 2 * len(cfg.n_ffts) * cfg.n_bands + 2  # mid/side x resolutions x bands + frame loudness
        self.frame_in = nn.Linear(n_in, cfg.dim)
        self.convs = nn.ModuleList(nn.Conv1d(cfg.dim, cfg.dim, 3, stride=2, padding=1) for _ in range(cfg.n_conv))
        self.stats_in = nn.Linear(2 * cfg.n_bands * 4, cfg.dim)
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.n_heads, 4 * cfg.dim, dropout=0.0,
                                           batch_first=True, norm_first=True, activation="gelu")
        self.transformer = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hand-made features: per frame ``(B, frames, n_in)`` and band stats ``(B, 8 n_bands)``."""
        ms = mid_side(x)
        hop = self.cfg.hop_samples
        per_res = [band_db(ms, n, hop, getattr(self, f"bands{i}")) for i, n in enumerate(self.cfg.n_ffts)]
        frames = per_res[0].shape[2]
        rms = ms.unfold(-1, hop, hop).pow(2).mean(-1)  # (B, 2, frames - 1 or so)
        rms_db = 10 * torch.log10(rms + 1e-10)
        rms_db = F.pad(rms_db, (0, frames - rms_db.shape[-1]), mode="replicate")[..., :frames]
        feats = torch.cat([r.permute(0, 2, 1, 3).flatten(2) for r in per_res] + [rms_db.transpose(1, 2)], -1)
        fine = per_res[-1]  # dynamics statistics over time, per channel and band
        q = torch.quantile(fine, torch.tensor([0.1, 0.9], device=x.device), dim=2)
        stats = torch.cat([fine.mean(2), fine.std(2), q[0], q[1]], -1).flatten(1)
        return feats / 20.0, stats / 20.0  # dB / 20: roughly unit scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(*self.features(x))

    def embed(self, feats: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        """The trainable part, from :meth:`features` (which has no parameters, so training may
        compute it once per clip and cache it)."""
        h = self.frame_in(feats).transpose(1, 2)
        for conv in self.convs:
            h = F.gelu(conv(h))
        h = torch.cat([self.stats_in(stats).unsqueeze(1), h.transpose(1, 2)], 1)
        return self.norm(self.transformer(h))


def deconvolve(dry: torch.Tensor, ref: torch.Tensor, reg: float = 1e-3) -> torch.Tensor:
    """Regularised frequency-domain deconvolution ``H = R D* / (|D|^2 + reg mean|D|^2)``.

    ``dry``, ``ref``: ``(B, C, T)``. Returns the complex transfer function ``(B, C, bins)``
    at FFT size ``next_pow2(2T)`` (linear, not circular, convolution).
    """
    n = 1 << (2 * dry.shape[-1] - 1).bit_length()
    D = torch.fft.rfft(dry, n)
    R = torch.fft.rfft(ref, n)
    p = D.real ** 2 + D.imag ** 2
    return R * D.conj() / (p + reg * p.mean(-1, keepdim=True) + _EPS)


class PairComparison(nn.Module):
    """Third token group from (dry, reference): ``forward(dry, ref) -> (B, 2 + frames, dim)``."""

    #: Impulse-response envelope bins (log-spaced times up to ``ir_seconds``).
    n_ir_bins = 24
    ir_seconds = 1.0

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        n_fft = cfg.n_ffts[-1]
        self.register_buffer("bands", band_matrix(n_fft, cfg.n_bands, cfg.sample_rate), persistent=False)
        self.frame_in = nn.Linear(2 * cfg.n_bands + 2, cfg.dim)
        self.convs = nn.ModuleList(nn.Conv1d(cfg.dim, cfg.dim, 3, stride=2, padding=1) for _ in range(cfg.n_conv))
        self.tf_in = nn.Linear(2 * cfg.n_bands, cfg.dim)
        self.ir_in = nn.Linear(2 * self.n_ir_bins, cfg.dim)

    def features(self, dry: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-frame differences ``(B, frames, 2 n_bands + 2)``, transfer function ``(B, 2 n_bands)``
        and IR envelope ``(B, 2 n_ir_bins)``, all in dB / 20."""
        cfg = self.cfg
        d_ms, r_ms = mid_side(dry), mid_side(ref)
        n_fft, hop = cfg.n_ffts[-1], cfg.hop_samples
        diff = band_db(r_ms, n_fft, hop, self.bands) - band_db(d_ms, n_fft, hop, self.bands)
        gain = 10 * torch.log10(r_ms.pow(2).unfold(-1, hop, hop).mean(-1) + 1e-10) \
            - 10 * torch.log10(d_ms.pow(2).unfold(-1, hop, hop).mean(-1) + 1e-10)
        frames = diff.shape[2]
        gain = F.pad(gain, (0, frames - gain.shape[-1]), mode="replicate")[..., :frames]
        per_frame = torch.cat([diff.permute(0, 2, 1, 3).flatten(2), gain.transpose(1, 2)], -1)
        # Transfer function and impulse response on mid/side (clips may be long: cap at 4 s).
        cap = min(dry.shape[-1], 4 * cfg.sample_rate)
        H = deconvolve(d_ms[..., :cap], r_ms[..., :cap])
        n = 2 * (H.shape[-1] - 1)
        bins = torch.linspace(0, cfg.sample_rate / 2, H.shape[-1], device=H.device)
        centres = torch.tensor(np.geomspace(30.0, cfg.sample_rate / 2, cfg.n_bands + 2)[1:-1],
                               dtype=torch.float32, device=H.device)
        # Smooth |H|^2 in log bands by nearest-centre assignment (cheap; deconvolution is noisy).
        idx = torch.bucketize(bins, (centres[1:] + centres[:-1]) / 2)
        mag = H.real ** 2 + H.imag ** 2
        tf = torch.zeros(*mag.shape[:-1], cfg.n_bands, device=H.device).index_add_(-1, idx, mag)
        tf = tf / torch.bincount(idx, minlength=cfg.n_bands).clamp_min(1)
        tf_db = 10 * torch.log10(tf + 1e-10).flatten(1)
        h = torch.fft.irfft(H, n)[..., : int(self.ir_seconds * cfg.sample_rate)]
        edges = np.unique(np.geomspace(1, h.shape[-1], self.n_ir_bins + 1).astype(int))
        env = torch.stack([h[..., a:b].pow(2).sum(-1) for a, b in zip(edges[:-1], edges[1:])], -1)
        env = F.pad(env, (0, self.n_ir_bins - env.shape[-1]))
        env_db = 10 * torch.log10(env / (h.pow(2).sum(-1, keepdim=True) + 1e-10) + 1e-10).flatten(1)
        return per_frame / 20.0, tf_db / 20.0, env_db / 20.0

    def forward(self, dry: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return self.embed(*self.features(dry, ref))

    def embed(self, per_frame: torch.Tensor, tf: torch.Tensor, env: torch.Tensor) -> torch.Tensor:
        """The trainable part, from :meth:`features` (parameter-free, cacheable)."""
        h = self.frame_in(per_frame).transpose(1, 2)
        for conv in self.convs:
            h = F.gelu(conv(h))
        glob = torch.stack([self.tf_in(tf), self.ir_in(env)], 1)
        # no output normalisation: these are level differences whose size is the message
        return torch.cat([glob, h.transpose(1, 2)], 1)


#: What :func:`audio_features` returns (and training caches) per row.
FEATURE_KEYS = ("ref_frames", "ref_stats", "dry_frames", "dry_stats", "pair_frames", "pair_tf", "pair_env")


@torch.no_grad()
def audio_features(encoder: EffectsEncoder, pair: PairComparison | None, reference: torch.Tensor,
                   dry: torch.Tensor | None, has_dry: torch.Tensor) -> dict[str, torch.Tensor]:
    """The parameter-free inputs of the built-in encoder and the pair comparison, per row.

    ``reference``, ``dry``: ``(B, 2, T)``; ``has_dry``: ``(B,)`` bool. Returns
    ``{name: (B, ...)}`` for :data:`FEATURE_KEYS` (dry and pair entries are zeros on rows
    without a dry clip; pair entries are absent without ``pair``). They depend on the
    configuration only, not on trained weights, so training computes them once per clip.
    """
    B = reference.shape[0]
    rows = has_dry.bool().nonzero().flatten().tolist()
    frames, stats = encoder.features(reference)
    out = {"ref_frames": frames, "ref_stats": stats,
           "dry_frames": torch.zeros_like(frames), "dry_stats": torch.zeros_like(stats)}
    if rows:
        out["dry_frames"][rows], out["dry_stats"][rows] = encoder.features(dry[rows])
    if pair is not None:
        values = pair.features(dry[rows], reference[rows]) if rows else pair.features(reference[:1], reference[:1])
        for key, value in zip(("pair_frames", "pair_tf", "pair_env"), values):
            full = value.new_zeros((B, *value.shape[1:]))
            if rows:
                full[rows] = value
            out[key] = full
    return out
