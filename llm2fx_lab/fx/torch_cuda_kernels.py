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

import warnings

import cupy
import torch

UNROLL = 32

_SOURCE = r"""
#define U @UNROLL@
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

// One thread per (chunk, lane): the recursion over one chunk of ``chunk`` samples from the
// given start state; writes the chunk's envelope and its end state (see chunked_envelope).
extern "C" __global__ void envelope_chunks(
    const float* __restrict__ v, const float* __restrict__ c_att, const float* __restrict__ c_rel,
    const float* __restrict__ start, float* __restrict__ out, float* __restrict__ end_state,
    const long long n, const int lanes, const int chunk, const int chunks)
{
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= (long long)lanes * chunks) return;
    const int i = (int)(j % lanes);
    const long long first = (j / lanes) * (long long)chunk;
    const float ca = c_att[i], cr = c_rel[i];
    float e = start[j];
    float cur[U], nxt[U];
    #pragma unroll
    for (int k = 0; k < U; ++k) cur[k] = v[(first + k) * lanes + i];
    for (long long base = first; base < first + chunk; base += U) {
        const long long next = base + U;
        if (next < first + chunk) {
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
    end_state[j] = e;
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

_MODULE = cupy.RawModule(code=_SOURCE.replace("@UNROLL@", str(UNROLL)))
_THREADS = 32


def _cupy_stream():
    """torch's current CUDA stream as a CuPy stream (kernels then queue behind torch's work).

    CuPy >= 14 takes it through the CUDA stream protocol (``Stream.from_external``) and
    deprecates ``ExternalStream``; older CuPy, or a torch stream without the protocol, use
    ``ExternalStream`` on the raw handle.
    """
    current = torch.cuda.current_stream()
    from_external = getattr(cupy.cuda.Stream, "from_external", None)
    if from_external is not None:
        try:
            return from_external(current)
        except (TypeError, AttributeError, ValueError):
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return cupy.cuda.ExternalStream(current.cuda_stream)


def _launch(name: str, threads: int, scalars: tuple, *tensors: torch.Tensor) -> None:
    kernel = _MODULE.get_function(name)
    arrays = [cupy.asarray(t.detach()) for t in tensors]
    with _cupy_stream():
        kernel(((threads + _THREADS - 1) // _THREADS,), (_THREADS,), (*arrays, *scalars))


def envelope_forward(v: torch.Tensor, c_att: torch.Tensor, c_rel: torch.Tensor,
                     out: torch.Tensor) -> None:
    """``env = v + c (env_prev - v)``, ``c = c_att`` where ``v > env_prev`` else ``c_rel``.

    v, out : (samples, lanes) float32 contiguous CUDA tensors, samples a multiple of UNROLL;
    c_att, c_rel : (lanes,) float32.
    """
    lanes, n = v.shape[1], v.shape[0]
    _launch("envelope_forward", lanes, (cupy.int64(n), cupy.int32(lanes)), v, c_att, c_rel, out)


def envelope_backward(v, env, c_att, c_rel, grad, grad_v, grad_att, grad_rel) -> None:
    """Adjoint of :func:`envelope_forward`: ``lam[t] = grad[t] + c[t+1] lam[t+1]``,
    ``grad_v[t] = lam (1 - c[t])``, ``d c = lam (env[t-1] - v[t])`` summed per coefficient."""
    lanes, n = v.shape[1], v.shape[0]
    _launch("envelope_backward", lanes, (cupy.int64(n), cupy.int32(lanes)), v, env, c_att, c_rel,
            grad, grad_v, grad_att, grad_rel)


def envelope_chunks(v, c_att, c_rel, start, out, end_state, chunk: int) -> None:
    """One pass of :func:`chunked_envelope`: every chunk from its start state, in parallel.

    v, out : (samples, lanes), samples a multiple of ``chunk`` (itself a multiple of UNROLL);
    start, end_state : (chunks, lanes).
    """
    lanes, n = v.shape[1], v.shape[0]
    chunks = n // chunk
    _launch("envelope_chunks", lanes * chunks,
            (cupy.int64(n), cupy.int32(lanes), cupy.int32(chunk), cupy.int32(chunks)),
            v, c_att, c_rel, start, out, end_state)
