#!/usr/bin/env bash
# One prepared run for a lent GPU machine (its image has cupy, torch, numpy, matplotlib, pytest and
# tqdm, and no network): the CuPy cases of the engine's tests, then the GPU benchmark. Results go
# to $OUT (the device tool's folder) or benchmarks/results/gpu. CuPy compiles each new kernel on
# first use, so the first run spends a few minutes compiling; give it a generous timeout.
set -u
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/results/gpu}"
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
python -m pytest -q -p no:cacheprovider -k cupy \
  tests/test_nn_parity.py tests/test_nn_optim.py tests/test_nn_model.py tests/test_nn_conv.py \
  tests/test_nn_module_api.py tests/test_autoencoders_backends.py 2>&1 | tee "$out/pytest-cupy.txt" | tail -15
python -m benchmarks.throughput --models deep,simple,deep-x4 --batch-sizes 32,256,2048,8192 --repeats 5 \
  --no-memory --json "$out/gpu.json" --plot "$out/gpu.png" 2>&1 | tee "$out/gpu.txt" | tail -40
