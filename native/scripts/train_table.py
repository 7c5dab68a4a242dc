# The final table of native/scripts/train-check.sh: the engine's training throughput
# (bench_engine.jsonl) beside PyTorch eager's on the same card, model and tokens
# (gpt2_train_pytorch.json), with the ratios against the target (>= 0.8x in float32 and in mixed
# precision) and the model FLOP utilisation; the same rows as Markdown in training-results.md.
#   python3 train_table.py OUT_DIR CARD_NAME
import os
import sys

from result_tables import load_rows, publish

out, card = sys.argv[1], sys.argv[2]


ours = {r["mode"]: r for r in load_rows(os.path.join(out, "bench_engine.jsonl"))}
theirs = {r["mode"]: r for r in load_rows(os.path.join(out, "gpt2_train_pytorch.json")) or load_rows(os.path.join(out, "pytorch.log"))}
header = ("mode", "w2s tokens/s (batch)", "PyTorch eager tokens/s (batch)", "ratio", "target", "verdict", "w2s TFLOP/s", "MFU (vs cuBLAS)")
rows = []
for mode in ("float32", "tf32", "bf16"):
    o, t = ours.get(mode), theirs.get(mode)
    if not o:
        continue
    ratio = o["tokens_per_s"] / t["tokens_per_s"] if t else None
    goal = 0.8
    rows.append((mode, f"{o['tokens_per_s']:.0f} ({o['batch']})", f"{t['tokens_per_s']:.0f} ({t['batch']})" if t else "n/a",
                 f"{ratio:.2f}x" if ratio is not None else "n/a", f">= {goal}x",
                 "-" if ratio is None else ("met" if ratio >= goal else "MISSED"),
                 f"{o['tflops']:.1f}", f"{100 * o['mfu']:.1f}% of {o['matrix_tflops']:.0f}"))
if not rows:
    print("no measurements (see bench_engine.log and pytorch.log)")
    sys.exit(0)
publish(os.path.join(out, "training-results.md"), f"GPT-2 small training (d 768, 12 layers, 12 heads, T 256, AdamW) on {card}",
        "native/scripts/train-check.sh; median step after warm-up", header, rows)
