"""PyTorch CPU baseline of `npm run bench:train`: trains the model the engine trains, from the same
ModelConfig (packages/model/src/config.ts, passed as JSON), on the same task and shape, and prints
one JSON object.

    /usr/bin/python3 train_step.py < request.json

request.json: {"config": ModelConfig, "task": "lm" | "classifier", "batch": B, "seqLen": T,
"steps": N, "warmup": W, "threads": n, "blasThreads": m (default n), "precision": "float32" | "bf16"
(default float32), "optimizer": {"lr", "weightDecay", "maxGradNorm"}, "seed": s}

Threads: `threads` is PyTorch's intra-op (OpenMP) thread count, torch.set_num_threads. The matrix
products of Debian's torch run in the system BLAS (OpenBLAS), whose own thread count is read from
OPENBLAS_NUM_THREADS when it loads and is otherwise one per core, whatever set_num_threads says: a
"1-thread" PyTorch would run its products on every core. So this script sets the BLAS's count to
`blasThreads` before it imports torch, and reports the count the loaded OpenBLAS runs.

The model follows config.ts's mathematics, nanoGPT-style (one nn.Linear per fused projection):
LayerNorm or RMSNorm, GELU (tanh or exact) or SwiGLU, learned positions or RoPE (rotate-half on the
first rotaryDim dims of each head, Llama 3 scaling where set), grouped-query attention (key/value
heads repeated), causal attention (F.scaled_dot_product_attention where this PyTorch has it, else
written out with a -inf mask), serial or parallel residual, tied or untied LM head; the classifier
head reads the final-normed hidden state of the last token. Random weights (normal 0.02). A step
is forward, loss (LM: next-token cross-entropy; classifier: cross-entropy with soft targets),
backward, global gradient-norm clipping and AdamW (decay on matrices and embeddings only, as the
engine), in float32; with precision "bf16", the forward pass runs under PyTorch's CPU autocast to
bfloat16 (its matrix products in bfloat16 through oneDNN, the ops autocast keeps in float32 in
float32; the backward follows the forward's types), the loss on the logits cast back to float32,
float32 parameters, gradients and AdamW. The time of each step after `warmup` steps; the median is
reported.

Memory: the process's resident set after torch is imported and before the model is built, and its
peak (VmHWM, reset after the import) at the end; the model's memory is their difference.
"""
import ctypes
import json
import math
import os
import sys
import time

REQUEST = json.load(sys.stdin) if __name__ == "__main__" else None
if REQUEST is not None:
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(REQUEST.get("blasThreads", REQUEST["threads"]))

import torch  # noqa: E402 (after the BLAS thread count is set)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def blas_threads():
    """The thread count of the OpenBLAS this process loaded (None when the BLAS is another)."""
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f if "blas" in line and ".so" in line})
    for lib in libs:
        try:
            return int(ctypes.CDLL(lib).openblas_get_num_threads())
        except (OSError, AttributeError):
            continue
    return None


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def norm(c):
    d, eps = c["dModel"], c["normEps"]
    return nn.LayerNorm(d, eps=eps) if c["architecture"]["norm"] == "layerNorm" else RMSNorm(d, eps)


def rope_inverse_frequencies(c, r):
    p = c["architecture"]["positions"]
    inv = [p["theta"] ** (-2 * j / r) for j in range(r // 2)]
    s = p.get("scaling")
    if not s:
        return torch.tensor(inv, dtype=torch.float64)
    low = s["originalContextLength"] / s["lowFreqFactor"]
    high = s["originalContextLength"] / s["highFreqFactor"]
    out = []
    for f in inv:
        wl = 2 * math.pi / f
        if wl > low:
            out.append(f / s["factor"])
        elif wl < high:
            out.append(f)
        else:
            sm = (s["originalContextLength"] / wl - s["lowFreqFactor"]) / (s["highFreqFactor"] - s["lowFreqFactor"])
            out.append((1 - sm) * f / s["factor"] + sm * f)
    return torch.tensor(out, dtype=torch.float64)


class Block(nn.Module):
    def __init__(self, c, T):
        super().__init__()
        a = c["architecture"]
        d, H, KV, Fd = c["dModel"], c["nHeads"], c["nKvHeads"], c["dFf"]
        self.H, self.KV, self.hd = H, KV, d // H
        self.parallel = a["parallelResidual"]
        self.mlp_kind = a["mlp"]
        self.norm1, self.norm2 = norm(c), norm(c)
        self.qkv = nn.Linear(d, (H + 2 * KV) * self.hd, bias=a["biases"]["qkv"])
        self.out = nn.Linear(H * self.hd, d, bias=a["biases"]["attnOut"])
        self.up = nn.Linear(d, (2 if self.mlp_kind == "swiglu" else 1) * Fd, bias=a["biases"]["mlp"])
        self.down = nn.Linear(Fd, d, bias=a["biases"]["mlp"])
        self.rope = a["positions"]["kind"] == "rope"
        if self.rope:
            r = int(self.hd * a["positions"]["rotaryFraction"])
            self.r = r
            angles = torch.arange(T, dtype=torch.float64)[:, None] * rope_inverse_frequencies(c, r)[None, :]
            self.register_buffer("cos", angles.cos().float(), persistent=False)
            self.register_buffer("sin", angles.sin().float(), persistent=False)

    def rotate(self, x):  # x [B, heads, T, hd]
        r, h = self.r, self.r // 2
        x1, x2, rest = x[..., :h], x[..., h:r], x[..., r:]
        cos, sin = self.cos, self.sin
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)

    def attend(self, x):
        B, T, _ = x.shape
        H, KV, hd = self.H, self.KV, self.hd
        qkv = self.qkv(x)
        q = qkv[..., : H * hd].view(B, T, H, hd).transpose(1, 2)
        k = qkv[..., H * hd : (H + KV) * hd].view(B, T, KV, hd).transpose(1, 2)
        v = qkv[..., (H + KV) * hd :].view(B, T, KV, hd).transpose(1, 2)
        if self.rope:
            q, k = self.rotate(q), self.rotate(k)
        if KV != H:
            k = k.repeat_interleave(H // KV, dim=1)
            v = v.repeat_interleave(H // KV, dim=1)
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
            mask = torch.ones(T, T, dtype=torch.bool).triu(1)
            y = att.masked_fill(mask, float("-inf")).softmax(-1) @ v
        return self.out(y.transpose(1, 2).reshape(B, T, H * hd))

    def mlp(self, x):
        u = self.up(x)
        if self.mlp_kind == "swiglu":
            g, u = u.chunk(2, dim=-1)
            return self.down(F.silu(g) * u)
        return self.down(F.gelu(u, approximate="tanh" if self.mlp_kind == "geluTanh" else "none"))

    def forward(self, x):
        if self.parallel:
            return x + self.attend(self.norm1(x)) + self.mlp(self.norm2(x))
        x = x + self.attend(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Model(nn.Module):
    def __init__(self, c, task, T):
        super().__init__()
        a = c["architecture"]
        self.tok = nn.Embedding(c["vocabSize"], c["dModel"])
        self.pos = nn.Embedding(c["contextLength"], c["dModel"]) if a["positions"]["kind"] == "learned" else None
        self.blocks = nn.ModuleList(Block(c, T) for _ in range(c["nLayers"]))
        self.final = norm(c)
        self.task = task
        if task == "classifier":
            self.head = nn.Linear(c["dModel"], 2, bias=False)
        elif not a["tiedEmbeddings"]:
            self.head = nn.Linear(c["dModel"], c["vocabSize"], bias=False)
        else:
            self.head = None
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok(idx)
        if self.pos is not None:
            x = x + self.pos.weight[:T]
        for b in self.blocks:
            x = b(x)
        h = self.final(x)
        if self.task == "classifier":
            return self.head(h[:, -1])
        return h @ self.tok.weight.T if self.head is None else self.head(h)


def main(req):
    c, task, B, T = req["config"], req["task"], req["batch"], req["seqLen"]
    opt_cfg = req.get("optimizer", {})
    torch.set_num_threads(req["threads"])
    torch.manual_seed(req.get("seed", 1))
    rss_before = status_kib("VmRSS")
    peak_reset = reset_peak()

    model = Model(c, task, T)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": opt_cfg.get("weightDecay", 0.1)}, {"params": no_decay, "weight_decay": 0.0}],
        lr=opt_cfg.get("lr", 3e-4),
        foreach=False,
    )
    params = sum(p.numel() for p in model.parameters())
    g = torch.Generator().manual_seed(req.get("seed", 1))
    tokens = torch.randint(0, c["vocabSize"], (B, T + 1), generator=g)
    x, y = tokens[:, :T].contiguous(), tokens[:, 1:].contiguous()
    soft = torch.softmax(torch.randn(B, 2, generator=g), dim=-1)
    max_norm = opt_cfg.get("maxGradNorm", 1.0)

    precision = req.get("precision", "float32")
    if precision not in ("float32", "bf16"):
        raise SystemExit(f'train_step.py: "precision" must be "float32" or "bf16", got {precision!r}')
    bf16 = precision == "bf16"

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        out = out.float()
        loss = F.cross_entropy(out.view(-1, c["vocabSize"]), y.view(-1)) if task == "lm" else F.cross_entropy(out, soft)
        loss.backward()
        if max_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(req.get("warmup", 2)):
        step()
    times = []
    for _ in range(req["steps"]):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    ms = sorted(times)[len(times) // 2] * 1e3 if len(times) % 2 else sum(sorted(times)[len(times) // 2 - 1 : len(times) // 2 + 1]) / 2 * 1e3
    peak = status_kib("VmHWM")
    print(json.dumps({
        "impl": "pytorch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "precision": "bf16" if bf16 else "float32",
        "blasThreads": blas_threads(),
        "attention": "scaled_dot_product_attention" if hasattr(F, "scaled_dot_product_attention") else "explicit softmax",
        "parameters": params,
        "batch": B,
        "seqLen": T,
        "steps": len(times),
        "msPerStep": ms,
        "stepMs": [t * 1e3 for t in times],
        "loss": loss,
        "rssBeforeBytes": rss_before * 1024,
        "peakRssBytes": peak * 1024,
        "peakReset": peak_reset,
    }))


if __name__ == "__main__":
    main(REQUEST)
