"""Gradients of the torch renderer: finite-difference checks for the input and every
continuous parameter, and recovery of known parameters by gradient descent."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from llm2fx_lab.fx.spec import TOOLSET, param
from llm2fx_lab.fx.torch_render import MODULE_FUNCTIONS, render_params
from tests.fx.conftest_torch import SR, real_clip

N = 3000


def _clip(level: float = 1.0) -> torch.Tensor:
    return torch.from_numpy(real_clip(N / SR, index=1)).double()[None] * level


def _draw(name: str, rng: np.random.Generator) -> dict[str, float]:
    # interior of each range, so a finite-difference step never leaves it
    return {p.name: float(p.denormalize(rng.uniform(max(0.2, p.normalize(p.lowest_valid)), 0.8)))
            for p in TOOLSET[name].params}


CASES = [(m, p.name) for m in TOOLSET for p in TOOLSET[m].params if (m, p.name) != ("delay", "delay_seconds")]


@pytest.mark.parametrize("name,param_name", CASES)
def test_parameter_gradient_matches_finite_difference(name, param_name):
    # a seed of its own per case, the same in every process (hash() of a str is salted per process)
    rng = np.random.default_rng(zlib.crc32(f"{name}.{param_name}".encode()))
    values = _draw(name, rng)
    level = 0.5 if name in ("compressor", "limiter") else 1.0
    x = _clip(level)
    if name == "delay":
        values["delay_seconds"] = 0.02  # echoes inside the short clip
    w = torch.from_numpy(np.random.default_rng(1).standard_normal(x.shape))
    fn = MODULE_FUNCTIONS[name]

    def loss(v: torch.Tensor) -> torch.Tensor:
        args = {k: torch.tensor([val], dtype=torch.float64) for k, val in values.items()}
        args[param_name] = v
        return (fn(x, SR, **args) * w).sum()

    v0 = torch.tensor([values[param_name]], dtype=torch.float64, requires_grad=True)
    loss(v0).backward()
    spec = param(name, param_name)
    h = 1e-4 * (spec.maximum - spec.minimum) if spec.scale == "lin" else 1e-4 * values[param_name]
    # evaluated on the differentiable path too (inputs that require grad), in float64
    fd = ((loss((v0.detach() + h).requires_grad_()) - loss((v0.detach() - h).requires_grad_())) / (2 * h)).detach()
    analytic = float(v0.grad)
    assert analytic == pytest.approx(float(fd), rel=2e-3, abs=1e-6 * (1 + abs(float(fd)))), values


@pytest.mark.parametrize("name", list(TOOLSET))
def test_input_gradient_matches_finite_difference(name):
    rng = np.random.default_rng(7)
    values = _draw(name, rng)
    if name == "delay":
        values["delay_seconds"] = 0.02
    x = _clip(0.5)
    w = torch.from_numpy(rng.standard_normal(x.shape))
    direction = torch.from_numpy(rng.standard_normal(x.shape))
    fn = MODULE_FUNCTIONS[name]
    args = {k: torch.tensor([v], dtype=torch.float64) for k, v in values.items()}
    xg = x.clone().requires_grad_(True)
    (fn(xg, SR, **args) * w).sum().backward()
    h = 1e-6
    plus = (x + h * direction).requires_grad_()
    minus = (x - h * direction).requires_grad_()
    fd = (((fn(plus, SR, **args) * w).sum() - (fn(minus, SR, **args) * w).sum()) / (2 * h)).detach()
    assert float((xg.grad * direction).sum()) == pytest.approx(float(fd), rel=2e-3, abs=1e-6)


def test_delay_time_is_quantised_like_pedalboard():
    """Pedalboard rounds the delay down to whole samples, so the time has no gradient."""
    x = torch.from_numpy(real_clip(0.05))[None]
    secs = torch.tensor([0.0123], requires_grad=True)
    fb = torch.tensor([0.3], requires_grad=True)
    y = MODULE_FUNCTIONS["delay"](x, SR, secs, fb, 0.5)
    y.sum().backward()
    assert secs.grad is None or float(secs.grad) == 0.0
    assert fb.grad is not None and float(fb.grad) != 0.0
    nudged = MODULE_FUNCTIONS["delay"](x, SR, 0.0123 + 1e-6, 0.3, 0.5, method="fft")  # same whole-sample delay
    assert torch.equal(nudged, y.detach())


def test_gradient_descent_recovers_gain_eq_and_reverb_mix():
    torch.manual_seed(0)
    x = torch.from_numpy(real_clip(0.5, index=2))[None]
    order = ["equalizer", "gain", "reverb"]
    fixed_eq = {"mid_cutoff_freq": 1000.0, "mid_q_factor": 1.0}
    truth = {"gain_db": 6.0, "mid_gain_db": 8.0, "mix_ratio": 0.6}

    def params(gain_db, mid_gain_db, mix_ratio):
        return {"equalizer": {**fixed_eq, "mid_gain_db": mid_gain_db}, "gain": {"gain_db": gain_db},
                "reverb": {"room_size": 0.5, "damping": 0.5, "mix_ratio": mix_ratio}}

    with torch.no_grad():
        target = render_params(x, SR, order, params(**{k: torch.tensor([v]) for k, v in truth.items()}),
                               device="cpu")
    # normalised, unconstrained variables: value = lo + (hi - lo) * sigmoid(u)
    ranges = {"gain_db": (-20.0, 20.0), "mid_gain_db": (-20.0, 20.0), "mix_ratio": (0.0, 1.0)}
    start = {"gain_db": 0.0, "mid_gain_db": 0.0, "mix_ratio": 0.2}
    u = {k: torch.logit(torch.tensor([(v - ranges[k][0]) / (ranges[k][1] - ranges[k][0])])).requires_grad_(True)
         for k, v in start.items()}
    opt = torch.optim.Adam(u.values(), lr=0.05)

    def values():
        return {k: ranges[k][0] + (ranges[k][1] - ranges[k][0]) * torch.sigmoid(u[k]) for k in u}

    for _ in range(150):
        opt.zero_grad()
        y = render_params(x, SR, order, params(**values()), device="cpu")
        loss = torch.mean((y - target) ** 2) / torch.mean(target ** 2)
        loss.backward()
        opt.step()
    got = {k: float(v.detach()) for k, v in values().items()}
    assert got["gain_db"] == pytest.approx(truth["gain_db"], abs=0.3), got
    assert got["mid_gain_db"] == pytest.approx(truth["mid_gain_db"], abs=0.5), got
    assert got["mix_ratio"] == pytest.approx(truth["mix_ratio"], abs=0.03), got


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_cuda_gradients_match_cpu():
    """The CUDA envelope kernels (forward and adjoint) against the CPU ones, through the
    compressor and the limiter, and a whole differentiable chain."""
    x = torch.from_numpy(real_clip(0.5, index=3))[None].repeat(2, 1, 1)
    order = ["equalizer", "compressor", "reverb", "delay", "limiter"]
    grads = {}
    for device in ("cpu", "cuda"):
        params = {"compressor": {"threshold_db": torch.tensor([-30.0, -20.0], device=device, requires_grad=True),
                                 "ratio": torch.tensor([4.0, 8.0], device=device, requires_grad=True),
                                 "attack_ms": torch.tensor([5.0, 20.0], device=device, requires_grad=True),
                                 "release_ms": torch.tensor([100.0, 400.0], device=device, requires_grad=True)},
                  "limiter": {"threshold_db": torch.tensor([-6.0, -3.0], device=device, requires_grad=True)},
                  "reverb": {"mix_ratio": torch.tensor([0.3, 0.6], device=device, requires_grad=True)}}
        xd = x.detach().to(device).requires_grad_(True)
        y = render_params(xd, SR, order, params, device=device)
        (y ** 2).mean().backward()
        grads[device] = [xd.grad.cpu()] + [t.grad.cpu() for m in params.values() for t in m.values()]
        grads[device + "_y"] = y.detach().cpu()
    assert torch.allclose(grads["cuda_y"], grads["cpu_y"], atol=1e-4)
    for g_cpu, g_cuda in zip(grads["cpu"], grads["cuda"]):
        # float32 on both sides: a few attack/release decisions or clip edges may differ
        assert float((g_cuda - g_cpu).norm()) <= 2e-2 * float(g_cpu.norm()) + 1e-12
