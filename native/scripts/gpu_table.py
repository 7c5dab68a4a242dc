# The final table of gpu-check.sh: the CUDA kernels' medians (bench_cuda.jsonl) beside PyTorch's on
# the same card in the same call (sdpa_anchor.json), as ratios against the targets, and the
# same rows as Markdown for benchmarks/RESULTS.md (results.md).
#   python3 gpu_table.py OUT_DIR CARD_NAME
import os
import sys

from result_tables import load_rows, publish

out, card = sys.argv[1], sys.argv[2]


ours = load_rows(os.path.join(out, "bench_cuda.jsonl"))
# The anchor writes its JSON at exit; after a timeout, the rows it printed are in its log.
torch_rows = load_rows(os.path.join(out, "sdpa_anchor.json")) or load_rows(os.path.join(out, "sdpa_anchor.log"))


def torch(dtype, backend, B, H, S, D):
    for r in torch_rows:
        if (r.get("dtype"), r.get("backend"), r.get("B"), r.get("H"), r.get("S"), r.get("D")) == (dtype, backend, B, H, S, D) \
                and "error" not in r:
            return r
    return None


rows = []  # (what, shape, ours, theirs, ratio, target, verdict)
for r in ours:
    if r["kind"] != "attention":
        continue
    shape = (r["B"], r["H"], r["S"], r["D"])
    if r["precision"] == "float32":
        against, dtype, target = "efficient", "float32", 1.0
    else:
        against, dtype, target = "flash", "bfloat16", 0.8
    t = torch(dtype, against, *shape)
    for key, label in (("fwd_tflops", "forward"), ("fwdbwd_tflops", "forward+backward")):
        theirs = t[key] if t else None
        ratio = r[key] / theirs if theirs else None  # a ratio of 0 is a measurement too
        # The target is set for float32 and for the bf16 variant; TF32 is shown against flash bf16 for reference.
        goal = target if r["precision"] in ("float32", "bf16") else None
        verdict = "-" if ratio is None or goal is None else ("met" if ratio >= goal else "MISSED")
        rows.append((f"attention {r['precision']} {label}", "B,H,T,D=%d,%d,%d,%d causal" % shape,
                     f"{r[key]:.1f} TFLOP/s", f"{theirs:.1f} TFLOP/s ({dtype} {against})" if theirs else "n/a",
                     f"{ratio:.2f}x" if ratio is not None else "n/a", f">= {goal}x" if goal else "(reference)", verdict))
copy = next((r for r in ours if r["kind"] == "copy"), None)
for r in ours:
    if r["kind"] != "loss":
        continue
    fraction = r["copy_fraction"]
    rows.append((f"loss {r['loss']}", f"N={r['N']} C={r['C']}", f"{r['gbps']:.0f} GB/s",
                 f"{copy['gbps']:.0f} GB/s (device copy)" if copy else "n/a", f"{fraction:.2f}", ">= 0.70",
                 "met" if fraction >= 0.7 else "MISSED"))

header = ("measurement", "shape", "w2s CUDA", "baseline (same card, same call)", "ratio", "target", "verdict")
if not rows:
    print("no measurements (see bench_cuda.log and sdpa_anchor.log)")
    sys.exit(0)
publish(os.path.join(out, "kernels-results.md"), f"CUDA kernels on {card}",
        "native/scripts/gpu-check.sh; medians of CUDA events after warm-up", header, rows)
