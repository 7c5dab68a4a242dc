#!/usr/bin/env bash
# The GPU check, run on the GPU test machine (../shared/GPU.md) from the repository root, in a few
# minutes: builds native/ with CUDA for the card, runs ctest (CPU and CUDA tests), runs the CUDA
# tests again under compute-sanitizer memcheck (small shapes), runs the CUDA kernel benchmark and
# PyTorch's attention backends on the same shapes (.carry/sdpa_anchor.py), checks the addon's device
# tensors from Node.js when .carry/node.xz came along, and prints a table of the ratios last.
# Full logs, the measurements (JSON) and results.md (rows for benchmarks/RESULTS.md) go to $OUT.
# Prepare here first: bash native/scripts/prepare-gpu-check.sh (fills .carry/).
#   W2S_CUDA_ARCH   CUDA architectures to build (default: the card's own, from nvidia-smi)
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
out=${OUT:-/tmp/w2s-gpu-check}
mkdir -p "$out"
build=$root/native/build-gpu
jobs=$(nproc)
failed=()
started=$(date +%s)

step() {  # step NAME COMMAND...: runs it with its log in $out/NAME.log, records a failure
  local name=$1
  shift
  local t0
  t0=$(date +%s)
  echo "== $name"
  if "$@" >"$out/$name.log" 2>&1; then
    echo "   ok ($(($(date +%s) - t0)) s)"
  else
    echo "   FAILED ($(($(date +%s) - t0)) s), last lines of $name.log:"
    tail -n 25 "$out/$name.log" | sed 's/^/   | /'
    failed+=("$name")
  fi
}

card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
capability=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d .)
arch=${W2S_CUDA_ARCH:-${capability:-90}}
echo "card: ${card:-unknown} (sm_$arch), $jobs CPU cores, logs in $out"
{ nvidia-smi; nvcc --version; cmake --version; } >"$out/machine.log" 2>&1

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
step configure cmake -S native -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DW2S_REQUIRE_CUDA=ON
step build cmake --build "$build" -j "$jobs"
step ctest ctest --test-dir "$build" --output-on-failure -j 4

sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
memcheck() {
  for test in test_cuda_attention test_cuda_losses; do
    W2S_CUDA_TEST_SMALL=1 "$sanitizer" --tool memcheck --error-exitcode 99 "$build/$test" || return 1
  done
}
if [ -x "$sanitizer" ]; then
  step memcheck memcheck
else
  echo "== memcheck: compute-sanitizer not found" | tee "$out/memcheck.log"
  failed+=(memcheck)
fi

step bench_cuda "$build/bench_cuda" --json "$out/bench_cuda.jsonl"

if [ -f .carry/sdpa_anchor.py ]; then
  step sdpa_anchor env OUT="$out" timeout 240 python3 .carry/sdpa_anchor.py
else
  echo "== sdpa_anchor: .carry/sdpa_anchor.py missing (run native/scripts/prepare-gpu-check.sh)"
  failed+=(sdpa_anchor)
fi

# The addon's device tensors from Node.js (when Node.js and the N-API headers came along).
if [ -f .carry/node.xz ] && [ -d .carry/node-api-headers ] && [ -d .carry/node-addon-api ]; then
  addon() {
    xz -dc .carry/node.xz >/tmp/w2s-node && chmod +x /tmp/w2s-node || return 1
    mkdir -p /tmp/w2s-node-bin && ln -sf /tmp/w2s-node /tmp/w2s-node-bin/node
    mkdir -p native/node_modules && ln -sfn "$root/.carry/node-addon-api" native/node_modules/node-addon-api || return 1
    PATH=/tmp/w2s-node-bin:$PATH cmake -S native -B "$build-addon" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CUDA_ARCHITECTURES="$arch" -DW2S_REQUIRE_CUDA=ON -DW2S_BUILD_TESTS=OFF -DCMAKE_JS_VERSION=8.0.0 \
      -DCMAKE_JS_INC="$root/.carry/node-api-headers/include" -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$build-addon/Release" || return 1
    PATH=/tmp/w2s-node-bin:$PATH cmake --build "$build-addon" -j "$jobs" --target w2s_native || return 1
    W2S_ADDON="$build-addon/Release/w2s_native.node" /tmp/w2s-node --expose-gc native/scripts/device-check.cjs
  }
  step device_tensors addon
else
  echo "== device_tensors: skipped (.carry/node.xz or the N-API headers missing: run native/scripts/prepare-gpu-check.sh)"
fi

python3 native/scripts/gpu_table.py "$out" "${card:-unknown card}" | tee "$out/table.txt"
echo "total $(($(date +%s) - started)) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all steps passed"
