#!/usr/bin/env bash
# The GPU check, run on the GPU test machine (../shared/GPU.md) from the repository root, in a few
# minutes: builds native/ with CUDA for the card (and the addon, when Node.js came along), runs
# ctest (CPU and CUDA tests; the CUDA tests must run, not skip), runs the CUDA tests again under
# compute-sanitizer memcheck (small shapes), runs the CUDA kernel benchmark and PyTorch's attention
# backends on the same shapes (.carry/sdpa_anchor.py), checks the addon's device tensors and the
# CUDA engine from Node.js, and prints a table of the ratios last. Every step has a time limit, so
# that one that hangs cannot take the others' results with it. Full logs, the measurements (JSON)
# and kernels-results.md (rows for benchmarks/RESULTS.md) go to $OUT.
# Prepare here first: bash native/scripts/prepare-gpu-check.sh (fills .carry/).
#   W2S_CUDA_ARCH   CUDA architectures to build (default: the card's own, from nvidia-smi)
set -uo pipefail
cd "$(dirname "$0")/../.."
source native/scripts/gpu-common.sh
start_check

# The emulated CUDA tests ran on the development machines already; here the real ones must run.
cuda_tests_ran() {
  ctest --test-dir "$build" --output-on-failure -j 4 --timeout 150 -E _emulated || return 1
  ! grep -q "(Skipped)" "$out/ctest.log"
}
step ctest 200 cuda_tests_ran

sanitizer=$(command -v compute-sanitizer || echo "$(dirname "$(readlink -f "$(command -v nvcc)")")/compute-sanitizer")
memcheck() {
  for test in test_cuda_attention test_cuda_losses; do
    W2S_CUDA_TEST_SMALL=1 "$sanitizer" --tool memcheck --error-exitcode 99 "$build/$test" || return 1
  done
}
if [ -x "$sanitizer" ]; then
  step memcheck 180 memcheck
else
  echo "== memcheck: compute-sanitizer not found" | tee "$out/memcheck.log"
  failed+=(memcheck)
fi

step bench_cuda 150 "$build/bench_cuda" --json "$out/bench_cuda.jsonl"

if [ -f .carry/sdpa_anchor.py ]; then
  step sdpa_anchor 180 env OUT="$out" python3 .carry/sdpa_anchor.py
else
  echo "== sdpa_anchor: .carry/sdpa_anchor.py missing (run native/scripts/prepare-gpu-check.sh)"
  failed+=(sdpa_anchor)
fi

if [ "${#addon_flags[@]}" -gt 0 ]; then
  step device_tensors 120 env W2S_ADDON="$build/Release/w2s_native.node" node --expose-gc native/scripts/device-check.cjs
fi

python3 native/scripts/gpu_table.py "$out" "${card:-unknown card}" | tee "$out/table.txt"
finish_check
