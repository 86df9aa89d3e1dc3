#!/usr/bin/python3
"""The training step of benchmarks/bench_train_step.cpp in PyTorch, for comparison.

Same model and work: BertForMaskedLM architecture (post-LN, erf GELU, tied decoder), L=4, H=256, A=4,
I=1024, V=8192, seq 128, batch 16, 15% MLM targets, dropout 0.1, float32; the MLM head runs on the
target rows only (as the reference does); forward + backward + clip_grad_norm_(1.0) + AdamW.
Run:  OMP_NUM_THREADS=2 /usr/bin/python3 benchmarks/torch_train_step.py [seconds]
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "2")))
torch.manual_seed(0)

L, H, A, I, V, S, B, P = 4, 256, 4, 1024, 8192, 128, 16, 512
D = H // A
EPS = 1e-12


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(H, H) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(H, eps=EPS), nn.LayerNorm(H, eps=EPS)
        self.fc1, self.fc2 = nn.Linear(H, I), nn.Linear(I, H)
        self.drop = nn.Dropout(0.1)

    def forward(self, x, ext):
        heads = lambda t: t.view(B, S, A, D).transpose(1, 2)
        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + ext, dim=-1)
        ctx = (self.drop(p) @ v).transpose(1, 2).reshape(B, S, H)
        x1 = self.ln1(self.drop(self.o(ctx)) + x)
        return self.ln2(self.drop(self.fc2(F.gelu(self.fc1(x1)))) + x1)


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.word, self.pos, self.ttype = nn.Embedding(V, H, padding_idx=0), nn.Embedding(P, H), nn.Embedding(2, H)
        self.ln = nn.LayerNorm(H, eps=EPS)
        self.layers = nn.ModuleList(Layer() for _ in range(L))
        self.head, self.head_ln = nn.Linear(H, H), nn.LayerNorm(H, eps=EPS)
        self.bias = nn.Parameter(torch.zeros(V))
        self.drop = nn.Dropout(0.1)

    def forward(self, ids, tt, mask, target_rows, target_labels):
        x = self.drop(self.ln(self.word(ids) + self.pos.weight[:S][None] + self.ttype(tt)))
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, ext)
        t = self.head_ln(F.gelu(self.head(x.reshape(B * S, H)[target_rows])))
        return F.cross_entropy(t @ self.word.weight.T + self.bias, target_labels)


model = Bert()
ids = torch.randint(1, V, (B, S))
tt = torch.zeros(B, S, dtype=torch.long)
mask = torch.ones(B, S, dtype=torch.long)
target_rows = torch.nonzero(torch.rand(B * S) < 0.15).flatten()
target_labels = torch.randint(0, V, (target_rows.numel(),))
decay = [p for n, p in model.named_parameters() if p.dim() > 1]
no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)


def step():
    opt.zero_grad(set_to_none=True)
    loss = model(ids, tt, mask, target_rows, target_labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


for _ in range(2):
    step()  # warm-up
budget = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
times = []
t_end = time.perf_counter() + budget
while len(times) < 3 or time.perf_counter() < t_end:
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
med = times[len(times) // 2]
print(f"torch {torch.__version__} threads={torch.get_num_threads()} steps={len(times)} "
      f"median {med * 1e3:.1f} ms/step, best {times[0] * 1e3:.1f} ms  tokens/s {B * S / med:.0f} (best {B * S / times[0]:.0f})")
