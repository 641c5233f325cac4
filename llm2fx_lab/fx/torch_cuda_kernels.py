"""CUDA kernels of the compressor/limiter envelope, compiled at run time by CuPy (NVRTC).

Imported only when a CUDA tensor reaches the envelope. One thread per (batch, channel) lane
runs the recursion over time; arrays are laid out time-first, ``(samples, lanes)``, so a
warp's loads and stores are coalesced, and the next ``UNROLL`` samples are loaded while the
current ones are processed, so the recursion is not stalled on memory. See
:mod:`llm2fx_lab.fx.torch_dynamics` for the recursion and its adjoint. The time axis must be
padded to a multiple of :data:`UNROLL` (with zeros; the padding does not change the result
for the samples before it).
"""

from __future__ import annotations

import cupy
import torch

UNROLL = 32

_SOURCE = r"""
#define U %(unroll)d
extern "C" __global__ void envelope_forward(
    const float* __restrict__ v, const float* __restrict__ c_att, const float* __restrict__ c_rel,
    float* __restrict__ out, const long long n, const int lanes)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= lanes) return;
    const float ca = c_att[i], cr = c_rel[i];
    float e = 0.0f;
    float cur[U], nxt[U];
    #pragma unroll
    for (int k = 0; k < U; ++k) cur[k] = v[(long long)k * lanes + i];
    for (long long base = 0; base < n; base += U) {
        const long long next = base + U;
        if (next < n) {
            #pragma unroll
            for (int k = 0; k < U; ++k) nxt[k] = v[(next + k) * lanes + i];
        }
        #pragma unroll
        for (int k = 0; k < U; ++k) {
            const float s = cur[k];
            const float c = s > e ? ca : cr;
            e = s + c * (e - s);
            out[(base + k) * lanes + i] = e;
        }
        #pragma unroll
        for (int k = 0; k < U; ++k) cur[k] = nxt[k];
    }
}

extern "C" __global__ void envelope_backward(
    const float* __restrict__ v, const float* __restrict__ env, const float* __restrict__ c_att,
    const float* __restrict__ c_rel, const float* __restrict__ grad, float* __restrict__ grad_v,
    float* __restrict__ grad_att, float* __restrict__ grad_rel, const long long n, const int lanes)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= lanes) return;
    const float ca = c_att[i], cr = c_rel[i];
    float lam = 0.0f, c_next = 0.0f, ga = 0.0f, gr = 0.0f;
    for (long long base = n - U; base >= 0; base -= U) {
        float sv[U], se[U], sg[U];
        #pragma unroll
        for (int k = 0; k < U; ++k) {
            const long long t = base + k;
            sv[k] = v[t * lanes + i];
            sg[k] = grad[t * lanes + i];
            se[k] = t > 0 ? env[(t - 1) * lanes + i] : 0.0f;
        }
        #pragma unroll
        for (int k = U - 1; k >= 0; --k) {
            lam = sg[k] + c_next * lam;
            const float prev = se[k], s = sv[k];
            float c;
            if (s > prev) { c = ca; ga += lam * (prev - s); }
            else { c = cr; gr += lam * (prev - s); }
            grad_v[(base + k) * lanes + i] = lam * (1.0f - c);
            c_next = c;
        }
    }
    grad_att[i] = ga;
    grad_rel[i] = gr;
}
"""

_MODULE = cupy.RawModule(code=_SOURCE % {"unroll": UNROLL})
_THREADS = 32


def _launch(name: str, lanes: int, n: int, *tensors: torch.Tensor) -> None:
    kernel = _MODULE.get_function(name)
    arrays = [cupy.asarray(t) for t in tensors]
    with cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream):
        kernel(((lanes + _THREADS - 1) // _THREADS,), (_THREADS,),
               (*arrays, cupy.int64(n), cupy.int32(lanes)))


def envelope_forward(v: torch.Tensor, c_att: torch.Tensor, c_rel: torch.Tensor,
                     out: torch.Tensor) -> None:
    """``env = v + c (env_prev - v)``, ``c = c_att`` where ``v > env_prev`` else ``c_rel``.

    v, out : (samples, lanes) float32 contiguous CUDA tensors, samples a multiple of UNROLL;
    c_att, c_rel : (lanes,) float32.
    """
    _launch("envelope_forward", v.shape[1], v.shape[0], v, c_att, c_rel, out)


def envelope_backward(v, env, c_att, c_rel, grad, grad_v, grad_att, grad_rel) -> None:
    """Adjoint of :func:`envelope_forward`: ``lam[t] = grad[t] + c[t+1] lam[t+1]``,
    ``grad_v[t] = lam (1 - c[t])``, ``d c = lam (env[t-1] - v[t])`` summed per coefficient."""
    _launch("envelope_backward", v.shape[1], v.shape[0], v, env, c_att, c_rel, grad, grad_v,
            grad_att, grad_rel)
