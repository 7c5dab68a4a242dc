# Shared by the GPU checks (native/scripts/gpu-check.sh, and native/scripts/train-check.sh, which
# benchmarks/gpu/train-check.sh forwards to); sourced from the repository root. start_check finds
# the card, unpacks the Node.js that prepare-gpu-check.sh packed (the addon is then built too),
# configures and builds native/ with CUDA for the card; step runs one command with a time limit and
# its log in $out; finish_check prints the total and fails when a step did.
root=$(pwd)
out=${OUT:-/tmp/w2s-gpu-check}
mkdir -p "$out"
build=$root/native/build
jobs=$(nproc)
failed=()
started=$(date +%s)
addon_flags=()
card=""
arch=""
sanitizer=""

# step NAME SECONDS COMMAND...: runs it (a program, or a shell function with the variables above)
# under a time limit, with its log in $out/NAME.log; records a failure.
step() {
  local name=$1 limit=$2
  shift 2
  local t0 command=("$@")
  t0=$(date +%s)
  if declare -F "$1" >/dev/null; then
    command=(bash -c "set -uo pipefail; $(declare -f "$1"); $(declare -p root out build jobs arch addon_flags sanitizer 2>/dev/null); $(printf '%q ' "$@")")
  fi
  echo "== $name"
  if timeout "$limit" "${command[@]}" >"$out/$name.log" 2>&1; then
    echo "   ok ($(($(date +%s) - t0)) s)"
  else
    echo "   FAILED ($(($(date +%s) - t0)) s, limit $limit s), last lines of $name.log:"
    tail -n 25 "$out/$name.log" | sed 's/^/   | /'
    failed+=("$name")
  fi
}

configure_and_build() {
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S native -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DW2S_REQUIRE_CUDA=ON "${addon_flags[@]}" && cmake --build "$build" -j "$jobs"
}

start_check() {
  card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
  local capability
  capability=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d .)
  arch=${W2S_CUDA_ARCH:-${capability:-90}}
  echo "card: ${card:-unknown} (sm_$arch), $jobs CPU cores, logs in $out"
  { nvidia-smi; nvcc --version; cmake --version; } >"$out/machine.log" 2>&1
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
  step build 360 configure_and_build
}

finish_check() {
  echo "total $(($(date +%s) - started)) s"
  if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
  fi
  echo "all steps passed"
}
