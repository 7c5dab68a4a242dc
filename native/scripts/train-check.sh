#!/usr/bin/env bash
# The GPU training check, run on the GPU test machine (../shared/GPU.md) from the repository root
# as `bash benchmarks/gpu/train-check.sh` (the path the standing order names; it only forwards
# here) or `bash native/scripts/train-check.sh`, in a few minutes: builds native/ with CUDA (and the
# addon, with the Node.js that native/scripts/prepare-gpu-check.sh packed), times the engine
# training a GPT-2-small-shaped model in float32, TF32 and bf16 (native/bench/bench_engine.cpp) and
# PyTorch eager training the same model on the same tokens (native/scripts/gpt2_train_pytorch.py),
# prints tokens/s, the ratio to PyTorch and the model FLOP utilisation, then runs one
# `w2s run --device cuda` with the bundled CLI (carry packages/cli/dist and .carry). Logs, JSON and
# training-results.md (rows for benchmarks/RESULTS.md) go to $OUT.
#   W2S_CUDA_ARCH   CUDA architectures to build (default: the card's own)
set -uo pipefail
cd "$(dirname "$0")/../.."
source native/scripts/gpu-common.sh
start_check

step bench_engine 300 "$build/bench_engine" --json "$out/bench_engine.jsonl" --tokens "$out/tokens.bin"
if [ -s "$out/tokens.bin" ]; then
  step pytorch 240 env OUT="$out" python3 native/scripts/gpt2_train_pytorch.py "$out/tokens.bin"
else
  echo "== pytorch: no tokens from bench_engine"
  failed+=(pytorch)
fi

# One weak-to-strong run of the CLI on the GPU, on a generated task (no data travels).
cli_run() {
  [ -f packages/cli/dist/w2s.mjs ] || { echo "packages/cli/dist/w2s.mjs missing: carry packages/cli/dist"; return 1; }
  mkdir -p node_modules/@w2s && ln -sfn "$root/native" node_modules/@w2s/native
  node -e '
    let s = 7; const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const rows = ["text,label"];
    for (let i = 0; i < 1200; i++) {
      const t = Array.from({ length: 3 + Math.floor(next() * 8) }, () => "abcdefghijklmnopqrstuvwxyz"[Math.floor(next() * 26)]).join("");
      rows.push(`w${i} ${t},${"aeiou".includes(t[t.length - 1]) ? 1 : 0}`);
    }
    require("fs").writeFileSync(process.argv[1], rows.join("\n") + "\n");' "$out/vowels.csv"
  node packages/cli/bin/w2s.mjs run --dataset "$out/vowels.csv" --text-column text --label-column label \
    --weak nano --strong micro --loss xent,logconf \
    --n-train 800 --n-test 300 --epochs 2 --device cuda --out "$out/run"
}
if [ "${#addon_flags[@]}" -gt 0 ]; then
  step cli_run 180 cli_run
else
  echo "== cli_run: skipped (no Node.js carried)"
fi

python3 native/scripts/train_table.py "$out" "${card:-unknown card}" | tee "$out/table.txt"
finish_check
