"""The parallel-in-time envelope (used by the CUDA kernels) against the sequential one, on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llm2fx_lab.fx.torch_dynamics import _env_forward_cpu, chunked_envelope, env_chunks_cpu
from tests.fx.conftest_torch import real_clip


def _numpy_chunks(v, c_att, c_rel, start, out, end_state, chunk):
    o, e = out.numpy(), end_state.numpy()
    env_chunks_cpu(v.numpy(), c_att.numpy(), c_rel.numpy(), start.numpy(), o, e, chunk)


@pytest.mark.parametrize("times_ms", [(5.0, 100.0), (0.0, 1000.0), (300.0, 50.0), (2.0, 0.0)])
def test_chunked_envelope_matches_sequential(times_ms):
    x = np.abs(real_clip(1.0, index=4)).astype(np.float64)  # (2, n)
    n = x.shape[1] // 1024 * 1024
    x = x[:, :n]
    coeffs = [0.0 if t < 1e-3 else np.exp(-2 * np.pi * 1000 / (44100 * t)) for t in times_ms]
    c_att = np.full(2, coeffs[0])
    c_rel = np.full(2, coeffs[1])
    ref = np.empty_like(x)
    _env_forward_cpu(x, c_att, c_rel, ref)
    got = chunked_envelope(torch.from_numpy(x.T.copy()), torch.from_numpy(c_att), torch.from_numpy(c_rel),
                           1024, _numpy_chunks)
    np.testing.assert_allclose(got.numpy().T, ref, rtol=1e-5, atol=1e-9)
