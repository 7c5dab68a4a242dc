#!/usr/bin/env bash
# The GPU check, run on the GPU test machine (../shared/GPU.md) from the repository root, in a few
# minutes: builds native/ with CUDA for the card (and the addon, when Node.js came along), runs
# ctest (CPU and CUDA tests; the CUDA tests must run, not skip), runs the CUDA tests again under
# compute-sanitizer memcheck (small shapes), runs the CUDA kernel benchmark and PyTorch's attention
# backends on the same shapes (.carry/sdpa_anchor.py), checks the addon's device tensors and the
# CUDA engine from Node.js, and prints a table of the ratios last. Every step has a time limit, so
# that one that hangs cannot take the others' results with it. Full logs, the measurements (JSON)
# and results.md (rows for benchmarks/RESULTS.md) go to $OUT.
# Prepare here first: bash native/scripts/prepare-gpu-check.sh (fills .carry/).
#   W2S_CUDA_ARCH   CUDA architectures to build (default: the card's own, from nvidia-smi)
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
out=${OUT:-/tmp/w2s-gpu-check}
mkdir -p "$out"
build=$root/native/build
jobs=$(nproc)
failed=()
started=$(date +%s)

step() {  # step NAME SECONDS COMMAND...: runs it with its log in $out/NAME.log, records a failure
  local name=$1 limit=$2
  shift 2
  local t0
  t0=$(date +%s)
  echo "== $name"
  if timeout "$limit" "$@" >"$out/$name.log" 2>&1; then
    echo "   ok ($(($(date +%s) - t0)) s)"
  else
    echo "   FAILED ($(($(date +%s) - t0)) s, limit $limit s), last lines of $name.log:"
    tail -n 25 "$out/$name.log" | sed 's/^/   | /'
    failed+=("$name")
  fi
}

card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
capability=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d .)
arch=${W2S_CUDA_ARCH:-${capability:-90}}
echo "card: ${card:-unknown} (sm_$arch), $jobs CPU cores, logs in $out"
{ nvidia-smi; nvcc --version; cmake --version; } >"$out/machine.log" 2>&1

# Node.js and the N-API headers, when prepare-gpu-check.sh packed them: the addon is built too.
addon_flags=()
if [ -f .carry/node.xz ] && [ -d .carry/node-api-headers ] && [ -d .carry/node-addon-api ]; then
  mkdir -p /tmp/w2s-node-bin
  xz -dc .carry/node.xz >/tmp/w2s-node-bin/node && chmod +x /tmp/w2s-node-bin/node
  export PATH=/tmp/w2s-node-bin:$PATH
  mkdir -p native/node_modules && ln -sfn "$root/.carry/node-addon-api" native/node_modules/node-addon-api
  addon_flags=(-DCMAKE_JS_VERSION=8.0.0 "-DCMAKE_JS_INC=$root/.carry/node-api-headers/include"
               "-DCMAKE_LIBRARY_OUTPUT_DIRECTORY=$build/Release")
else
  echo "   (no .carry/node.xz: the Node.js checks are skipped; run native/scripts/prepare-gpu-check.sh)"
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
step configure 120 cmake -S native -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DW2S_REQUIRE_CUDA=ON "${addon_flags[@]}"
step build 300 cmake --build "$build" -j "$jobs"

# The emulated CUDA tests ran on the development machines already; here the real ones must run.
cuda_tests_ran() {
  ctest --test-dir "$build" --output-on-failure -j 4 --timeout 150 -E _emulated || return 1
  ! grep -q "(Skipped)" "$out/ctest.log"
}
step ctest 200 bash -c "$(declare -f cuda_tests_ran); build='$build' out='$out'; cuda_tests_ran"

sanitizer=$(command -v compute-sanitizer || echo "$(dirname "$(readlink -f "$(command -v nvcc)")")/compute-sanitizer")
memcheck() {
  for test in test_cuda_attention test_cuda_losses; do
    W2S_CUDA_TEST_SMALL=1 "$sanitizer" --tool memcheck --error-exitcode 99 "$build/$test" || return 1
  done
}
if [ -x "$sanitizer" ]; then
  step memcheck 180 bash -c "$(declare -f memcheck); build='$build' sanitizer='$sanitizer'; memcheck"
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
echo "total $(($(date +%s) - started)) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all steps passed"
