"""Batched, differentiable torch renderer with parity to the CPU (pedalboard) renderer.

:func:`render_torch` renders a batch whose chains differ in modules and order: rows advance
through their own chains independently, and each round runs one module's pure function
(:data:`MODULE_FUNCTIONS`) on every row that waits for it (see :func:`_run_schedule`). :func:`render_params` renders one module
order with parameters given as tensors (which may require grad), for refining chains by
gradient descent.

Everything is validated before any audio is processed: shapes, batch sizes, chains (strictly,
through :func:`llm2fx_lab.fx.chain.as_chain`), parameter values and the device.
The CPU renderer (:func:`llm2fx_lab.fx.render.render`) stays the reference; this one follows
its semantics module by module (see :mod:`~llm2fx_lab.fx.torch_modules`,
:mod:`~llm2fx_lab.fx.torch_dynamics`, :mod:`~llm2fx_lab.fx.torch_reverb`).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from llm2fx_lab.audio.checks import check_sample_rate
from llm2fx_lab.errors import AudioError, BackendError, ParameterError
from llm2fx_lab.fx.chain import Chain, as_chain
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.fx.spec import module as module_spec
from llm2fx_lab.fx.torch_cpu_kernels import PARALLEL
from llm2fx_lab.fx.torch_dynamics import compressor, limiter
from llm2fx_lab.fx.torch_modules import delay, distortion, equalizer, gain, panner, stereo_widener
from llm2fx_lab.fx.torch_reverb import reverb

Tensor = torch.Tensor

#: The torch function of each module, called as ``fn(x, sample_rate, **params)``.
MODULE_FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "equalizer": equalizer,
    "compressor": compressor,
    "stereo_widener": stereo_widener,
    "gain": gain,
    "panner": panner,
    "distortion": distortion,
    "reverb": reverb,
    "delay": delay,
    "limiter": limiter,
}

#: Scheduling cost class of each module: 0 = a few elementwise passes, 1 = FFT filters (cost
#: grows with the rows processed), 2 = the envelope recursions (cost per call nearly
#: independent of the rows, on a GPU). The scheduler runs the lowest class anyone waits for.
COST_CLASS = {"gain": 0, "panner": 0, "stereo_widener": 0, "distortion": 0,
              "equalizer": 1, "reverb": 1, "delay": 1, "compressor": 2, "limiter": 2}

_WARNED_AUTO = False


def resolve_device(device: Any = "auto", warn_cpu_fallback: bool = True) -> torch.device:
    """The device to render on.

    ``"auto"`` (or None) picks CUDA when available and otherwise falls back to the CPU, with a
    warning (once per process) unless ``warn_cpu_fallback`` is False (where the CPU is the
    normal case, as for refinement); an explicit CUDA device raises :class:`BackendError` when
    CUDA is not available.

    Raises
    ------
    BackendError
        An unknown device, or CUDA asked for where there is none (the message lists the
        allowed values).
    """
    global _WARNED_AUTO
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if warn_cpu_fallback and not _WARNED_AUTO:
            warnings.warn("device='auto': CUDA is not available, the torch renderer runs on the CPU",
                          RuntimeWarning, stacklevel=3)
            _WARNED_AUTO = True
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise BackendError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r} ({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendError(f"device={device!r} was asked for but CUDA is not available here; "
                               "use device='cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise BackendError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise BackendError(f"device must be 'auto', 'cpu' or a CUDA device, got {device!r}")
    return dev


def _check_audio(x: Any, batch: int | None, scan: bool = True) -> Tensor:
    """(B, 1|2, N) numpy or tensor -> float32 tensor (B, 2, N) on its current device; ``scan``:
    also look for NaN or infinite samples."""
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
            raise AudioError(f"audio must be numeric, got dtype {x.dtype}")
        x = torch.from_numpy(np.asarray(x, dtype=np.float32))
    elif not torch.is_tensor(x):
        raise AudioError(f"audio must be a numpy array or a torch tensor, got {type(x).__name__}")
    if x.ndim != 3:
        raise AudioError(f"audio must have shape (batch, channels, samples), got {tuple(x.shape)}")
    if x.shape[1] not in (1, 2):
        raise AudioError(f"audio must have 1 or 2 channels, got shape {tuple(x.shape)}")
    if x.shape[-1] < 1:
        raise AudioError(f"audio has no samples: shape {tuple(x.shape)}")
    if batch is not None and x.shape[0] != batch:
        raise AudioError(f"audio has batch size {x.shape[0]} but {batch} chains were given")
    if x.is_floating_point() is False or x.dtype != torch.float32:
        x = x.to(torch.float32)
    if scan and not bool(torch.isfinite(x.detach()).all()):
        raise AudioError("audio contains NaN or infinite samples")
    if x.shape[1] == 1:
        x = x.expand(-1, 2, -1)
    return x


def _pad_tail(x: Tensor, sample_rate: float, tail_seconds: float) -> Tensor:
    if not (isinstance(tail_seconds, (int, float)) and math.isfinite(tail_seconds)
            and 0 <= tail_seconds <= 60):
        raise ParameterError(f"tail_seconds must be in [0, 60], got {tail_seconds!r}")
    tail = int(round(tail_seconds * sample_rate))
    return torch.nn.functional.pad(x, (0, tail)) if tail else x


def render_torch(x: Any, sample_rate: float, chains: Sequence[Any], device: Any = "auto",
                 tail_seconds: float = 0.0) -> Tensor:
    """Render a batch of clips, each through its own chain (bypassed modules skipped).

    Parameters
    ----------
    x : ndarray or Tensor, shape (batch, channels, samples), channels 1 or 2
        Mono is duplicated to stereo. A tensor that requires grad keeps its graph.
    sample_rate : float
        In Hz.
    chains : sequence of Chain (or tool-call lists / JSON), length ``batch``
        Validated strictly; chains may differ in modules and order.
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device
        ``"auto"``: CUDA when available, else the CPU (with a warning).
    tail_seconds : float, default 0
        Zeros appended before rendering so reverb and delay tails are not cut.

    Returns
    -------
    Tensor, shape (batch, 2, samples + tail), float32, on ``device``

    Examples
    --------
    >>> import numpy as np
    >>> y = render_torch(np.ones((1, 2, 100), np.float32), 44100,
    ...                  [[{"name": "gain", "arguments": {"gain_db": -6.0206}}]], device="cpu")
    >>> round(float(y[0, 0, 50]), 4)
    0.5
    """
    sample_rate = check_sample_rate(sample_rate)
    if isinstance(chains, (str, bytes, Mapping, Chain)) or not isinstance(chains, Sequence):
        raise BackendError("chains must be a list with one chain per batch item, "
                           f"got {type(chains).__name__}")
    if chains and isinstance(chains[0], Mapping):
        raise BackendError("chains must be a list with one chain per batch item; got a single chain "
                           "(a list of tool calls): wrap it as [chain]")
    chains = [as_chain(c).active for c in chains]
    x = _check_audio(x, len(chains))
    dev = resolve_device(device)
    x = _pad_tail(x.to(dev), sample_rate, tail_seconds)
    if dev.type == "cpu" and not PARALLEL and not (torch.is_grad_enabled() and x.requires_grad):
        with _one_torch_thread():
            return _run_schedule(x, sample_rate, chains, dev)
    return _run_schedule(x, sample_rate, chains, dev)


@contextlib.contextmanager
def _one_torch_thread():
    """Run torch's CPU ops in the calling thread while the numba kernels do the heavy work.

    Used on machines with few cores (where the kernels are serial, see
    :data:`~llm2fx_lab.fx.torch_cpu_kernels.PARALLEL`): torch's idle OpenMP workers busy-wait
    between ops and starve the kernels that run between them (measured: the whole render 3x
    slower on 2 cores, unless ``OMP_WAIT_POLICY=PASSIVE`` was set before torch started). The
    remaining torch ops are memory bound, so one thread loses little.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _run_schedule(x: Tensor, sample_rate: float, chains: list[Chain], dev: torch.device) -> Tensor:
    """Apply every chain to its row of ``x``, batching rows that wait for the same module.

    Rows advance independently. Each round runs one module on all rows whose next module it
    is, choosing among the modules of the lowest :data:`COST_CLASS` that any row waits for the
    one most rows wait for. The compressor and limiter, whose GPU cost is per call rather than
    per row, thus run once or twice per batch instead of once per chain position.
    """
    pos = [0] * len(chains)
    owned = False
    while True:
        waiting: dict[str, list[int]] = {}
        for i, chain in enumerate(chains):
            if pos[i] < len(chain):
                waiting.setdefault(chain[pos[i]].name, []).append(i)
        if not waiting:
            return x
        lowest = min(COST_CLASS[m] for m in waiting)
        pool = [m for m in waiting if COST_CLASS[m] == lowest]
        name = max(pool, key=lambda m: (len(waiting[m]), -MODULE_NAMES.index(m)))
        items = waiting[name]
        params = {p: torch.tensor([chains[i][pos[i]][p] for i in items], dtype=torch.float32, device=dev)
                  for p in module_spec(name).param_names}
        if len(items) == x.shape[0]:
            x = MODULE_FUNCTIONS[name](x, sample_rate, **params)
            owned = False
        else:
            idx = torch.tensor(items, device=dev)
            y = MODULE_FUNCTIONS[name](x.index_select(0, idx), sample_rate, **params)
            if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
                x = x.index_copy(0, idx, y)  # out of place: earlier nodes may have saved x
            else:
                if not owned:  # never write into the caller's tensor
                    x, owned = x.clone(), True
                x.index_copy_(0, idx, y)
        for i in items:
            pos[i] += 1


def _check_params(module_names: Sequence[str], params: Mapping[str, Mapping[str, Any]] | None,
                  batch: int, dev: torch.device) -> list[tuple[str, dict[str, Tensor]]]:
    params = {} if params is None else params
    if len(set(module_names)) != len(module_names):
        raise ParameterError(f"each module may be used at most once, got {list(module_names)}")
    extra = set(params) - set(module_names)
    if extra:
        raise ParameterError(f"parameters given for modules not in the chain: {sorted(extra)}")
    out = []
    for name in module_names:
        spec = module_spec(name)
        given = dict(params.get(name, {}))
        for key in given:
            spec.param(key)  # raises for an unknown parameter
        resolved = {}
        for p in spec.params:
            value = given.get(p.name, p.default)
            t = value if torch.is_tensor(value) else torch.tensor(value, dtype=torch.float32)
            if t.ndim > 1 or (t.ndim == 1 and t.shape[0] != batch):
                raise ParameterError(f"{p.qualified_name} must be a number or a tensor of shape "
                                     f"({batch},), got shape {tuple(t.shape)}")
            if not bool(torch.isfinite(t.detach()).all()):
                raise ParameterError(f"{p.qualified_name} must be finite, got {t.detach().cpu().tolist()}")
            resolved[p.name] = t.to(device=dev, dtype=torch.float32).expand(batch)
        out.append((name, resolved))
    return out


def render_params(x: Any, sample_rate: float, module_names: Sequence[str],
                  params: Mapping[str, Mapping[str, Any]] | None = None, device: Any = "auto",
                  tail_seconds: float = 0.0, scan_audio: bool = True) -> Tensor:
    """Render one module order with parameters as tensors, for gradient-based refinement.

    Parameters
    ----------
    x : ndarray or Tensor, shape (batch, channels, samples)
    sample_rate : float
    module_names : sequence of str
        The chain, in order (each module at most once).
    params : dict of module name -> dict of parameter name -> number or Tensor (batch,)
        Missing parameters take the spec defaults. Tensors may require grad; values are not
        clamped to the spec ranges (keep them in range, e.g. through a sigmoid).
    device, tail_seconds
        As in :func:`render_torch`.
    scan_audio : bool
        Look through ``x`` for NaN or infinite samples (the default). A search that renders its
        own renders again thousands of times (the grid search's cached prefixes, checked once)
        passes False: the scan was about a sixth of its time.

    Returns
    -------
    Tensor, shape (batch, 2, samples + tail)

    Examples
    --------
    >>> import torch
    >>> g = torch.tensor([0.0], requires_grad=True)
    >>> y = render_params(torch.ones(1, 2, 64), 44100, ["gain"], {"gain": {"gain_db": g}}, device="cpu")
    >>> y.sum().backward(); round(float(g.grad), 3)
    14.737
    """
    sample_rate = check_sample_rate(sample_rate)
    if isinstance(module_names, str):
        raise ParameterError(f"module_names must be a list of module names, got the string {module_names!r}")
    x = _check_audio(x, None, scan_audio)
    dev = resolve_device(device)
    resolved = _check_params(list(module_names), params, x.shape[0], dev)
    x = _pad_tail(x.to(dev), sample_rate, tail_seconds)
    for name, p in resolved:
        x = MODULE_FUNCTIONS[name](x, sample_rate, **p)
    return x
