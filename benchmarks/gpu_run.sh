#!/usr/bin/env bash
# The GPU checks and benchmarks, in one go, on a CUDA machine, from the repository root:
#
#   bash benchmarks/gpu_run.sh OUTDIR [PAIRS_FOLDER]
#
# 1. the GPU tests (pytest -m gpu: torch renderer parity and gradients, refinement, the fast decoder,
#    the embedded model on CUDA);
# 2. with PAIRS_FOLDER (NAME.flac + NAME.json, as `llm2fx bench --folder` reads; made here by
#    `python benchmarks/refine.py --per-length 100 --subset 2 --save-pairs .gpu_pairs`), analysis+refine
#    on the GPU: benchmarks/refine.py --devices $REFINE_DEVICES --json OUTDIR/refine_gpu.json
#    (REFINE_DEVICES defaults to cuda: the CPU rows of 18 pairs took about 5 min on a 16-core
#    H200 host on 2026-11-27 and ran its call out of time; set REFINE_DEVICES="cpu cuda" to add them);
# 3. the Qwen3-4B generation/training figures: benchmarks/model.py --gpu-only --json OUTDIR/model_gpu.json.
# Logs go to OUTDIR too. Back on the CPU machine, merge the JSON files into docs/benchmarks.md:
#   python benchmarks/refine.py --folder PAIRS_FOLDER --devices cpu --merge OUTDIR/refine_gpu.json
#   python benchmarks/model.py --gpu-json OUTDIR/model_gpu.json
# Python packages the CUDA machine lacks may be given as wheels in .whl/ (or the folder $WHEELS names).
# On 2026-11-27 its image lacked these; fetched here for its Python 3.12 with
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     pedalboard==0.9.26 soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 soxr==1.1.0 librosa==0.11.0 \
#     audioread==3.1.0 pooch==1.9.0 platformdirs==4.14.8 decorator==5.3.1 pyloudnorm==0.2.0 mido==1.3.3
# (about 7 MB). Name .whl and the pairs folder in the device call's carry list when git ignores them.
set -u
out=${1:?usage: bash benchmarks/gpu_run.sh OUTDIR [PAIRS_FOLDER]}
pairs=${2:-}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PY=${PYTHON:-python3}
wheels=${WHEELS:-.whl}
if compgen -G "$wheels/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/llm2fx-site "$wheels"/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/llm2fx-site" || exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
rc=0
timeout "${TESTS_SECONDS:-300}" $PY -m pytest -q -m gpu -p no:cacheprovider -o addopts="-ra" \
  tests/fx tests/model/test_decode.py tests/model/test_mini_weights.py tests/planners/test_order.py tests/planners/test_refine.py \
  tests/planners/test_registry.py 2>&1 | tee "$out/gpu_tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
if [ -n "$pairs" ]; then
  # shellcheck disable=SC2086  # REFINE_DEVICES is a list
  timeout "${REFINE_SECONDS:-300}" $PY benchmarks/refine.py --folder "$pairs" --devices ${REFINE_DEVICES:-cuda} \
    --json "$out/refine_gpu.json" --no-write 2>&1 | tee "$out/refine.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
fi
if [ "${MODEL_SECONDS:-240}" != 0 ]; then  # MODEL_SECONDS=0 skips step 3
  timeout "${MODEL_SECONDS:-240}" $PY benchmarks/model.py --gpu-only --json "$out/model_gpu.json" 2>&1 \
    | tee "$out/model.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
fi
exit $rc
