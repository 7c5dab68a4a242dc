# PyTorch eager training of the model native/bench/bench_engine.cpp trains, on the same card in the
# same GPU check (native/scripts/train-check.sh): GPT-2 small (vocabulary 50304, d 768, 12 layers,
# 12 heads, T 256, pre-LayerNorm blocks with biases, GELU (tanh), learned positions, tied
# embeddings), AdamW (lr 3e-4, no weight decay, fused), the same batch of tokens (the file
# bench_engine --tokens writes: int32 [B, T + 1]).
# Modes: float32 (TF32 off), tf32, bf16 (autocast, float32 master weights). Prints one JSON object
# per mode (tokens/s, ms per step, TFLOP/s counted as bench_engine counts them) and writes them to
# $OUT/gpt2_train_pytorch.json.
#   python3 native/scripts/gpt2_train_pytorch.py TOKENS_FILE
import json, os, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

V, D, L, H, T = 50304, 768, 12, 12, 256
dev = "cuda"
tokens = np.fromfile(sys.argv[1], dtype=np.int32)
B = tokens.size // (T + 1)
tokens = torch.from_numpy(tokens.reshape(B, T + 1).astype(np.int64)).to(dev)
x, y = tokens[:, :T].contiguous(), tokens[:, 1:].contiguous()


class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.ln1, s.qkv, s.proj = nn.LayerNorm(D), nn.Linear(D, 3 * D), nn.Linear(D, D)
        s.ln2, s.fc, s.fc2 = nn.LayerNorm(D), nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(s, h):
        q, k, v = s.qkv(s.ln1(h)).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
        h = h + s.proj(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, D))
        return h + s.fc2(F.gelu(s.fc(s.ln2(h)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(s):
        super().__init__()
        s.wte, s.wpe = nn.Embedding(V, D), nn.Embedding(T, D)
        s.blocks = nn.ModuleList(Block() for _ in range(L))
        s.ln = nn.LayerNorm(D)

    def forward(s, idx):
        h = s.wte(idx) + s.wpe(torch.arange(T, device=idx.device))
        for b in s.blocks:
            h = b(h)
        return s.ln(h) @ s.wte.weight.T


rows = []
for mode in ("float32", "tf32", "bf16"):
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = mode == "tf32"
    torch.manual_seed(0)
    model = GPT().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.0, fused=True)
    params = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=mode == "bf16"):
            loss = F.cross_entropy(model(x).view(-1, V).float(), y.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(3):
        step()
    times = []
    for _ in range(10):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    dt = sorted(times)[len(times) // 2]
    flops = 6 * params * B * T + 6 * L * B * T * T * D
    r = dict(impl="pytorch", mode=mode, batch=B, tokens_per_s=round(B * T / dt), ms_per_step=round(dt * 1e3, 2),
             tflops=round(flops / dt / 1e12, 1), loss=round(loss.item(), 4))
    rows.append(r)
    print(json.dumps(r), flush=True)
    del model, opt
    torch.cuda.empty_cache()
json.dump(rows, open(os.path.join(os.environ.get("OUT", "/tmp"), "gpt2_train_pytorch.json"), "w"), indent=1)
