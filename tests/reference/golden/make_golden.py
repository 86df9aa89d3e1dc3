#!/usr/bin/python3
"""Golden files for the reference BERT parity test (tests/reference/test_parity.cpp).

Pure PyTorch BertForMaskedLM (Hugging Face architecture and parameter names; python3-transformers is not
in Debian, so the model is written out here in ~60 lines of functional torch), float64, dropout off.
For a tiny config and a fixed batch it writes: the batch, all parameters, the logits of every position,
the MLM loss, every gradient, and the parameters after one torch.optim.AdamW step (weight decay off for
LayerNorm and biases, global grad-norm clipping active). Output: safetensors (F64 and I32 tensors, the
config and the optimizer settings in __metadata__), hand-written so no extra package is needed.

Pre-LN (config "pre_layer_norm": true, file tiny_preln): the HF RobertaPreLayerNorm arrangement with our
absolute positions 0..S-1 (Xiong et al. 2020, arXiv 2002.04745; docs/prelayernorm.md):
    u1 = LN1(x), a = x + Wo Attn(u1), y = a + W2 GELU(W1 LN2(a)), final LN after the last layer,
with LN1 = ...attention.LayerNorm, LN2 = ...intermediate.LayerNorm, final = bert.LayerNorm.

Run once (the outputs are committed; tests never need torch); names select files (default: all):
    /usr/bin/python3 tests/reference/golden/make_golden.py [tiny] [tiny_lowcost] [tiny_preln]
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def bert_parameters(c):
    """(name, shape, is_weight_like, decay) in the order of growth::model::bert_parameters."""
    H, V, I = c["hidden_size"], c["vocab_size"], c["intermediate_size"]
    pre_ln = c.get("pre_layer_norm", False)
    ln1 = "attention.LayerNorm" if pre_ln else "attention.output.LayerNorm"
    ln2 = "intermediate.LayerNorm" if pre_ln else "output.LayerNorm"
    p = [("bert.embeddings.word_embeddings.weight", (V, H)),
         ("bert.embeddings.position_embeddings.weight", (c["max_position_embeddings"], H)),
         ("bert.embeddings.token_type_embeddings.weight", (c["type_vocab_size"], H)),
         ("bert.embeddings.LayerNorm.weight", (H,)), ("bert.embeddings.LayerNorm.bias", (H,))]
    for l in range(c["num_hidden_layers"]):
        pre = f"bert.encoder.layer.{l}."
        Il = I // c["ffn_share_factor"] if l in c["ffn_shared_layers"] else I
        r = c["ffn_rank"]
        fact = l in c["ffn_factorized_layers"]
        for n in ("query", "key", "value"):
            p += [(pre + f"attention.self.{n}.weight", (H, H)), (pre + f"attention.self.{n}.bias", (H,))]
        p += [(pre + "attention.output.dense.weight", (H, H)), (pre + "attention.output.dense.bias", (H,)),
              (pre + ln1 + ".weight", (H,)), (pre + ln1 + ".bias", (H,))]
        if fact:
            p += [(pre + "intermediate.dense.weight_u", (Il, r)), (pre + "intermediate.dense.weight_v", (r, H))]
        else:
            p += [(pre + "intermediate.dense.weight", (Il, H))]
        p += [(pre + "intermediate.dense.bias", (Il,))]
        if fact:
            p += [(pre + "output.dense.weight_u", (H, r)), (pre + "output.dense.weight_v", (r, Il))]
        else:
            p += [(pre + "output.dense.weight", (H, Il))]
        p += [(pre + "output.dense.bias", (H,)), (pre + ln2 + ".weight", (H,)), (pre + ln2 + ".bias", (H,))]
    if pre_ln:
        p += [("bert.LayerNorm.weight", (H,)), ("bert.LayerNorm.bias", (H,))]
    p += [("cls.predictions.transform.dense.weight", (H, H)), ("cls.predictions.transform.dense.bias", (H,)),
          ("cls.predictions.transform.LayerNorm.weight", (H,)), ("cls.predictions.transform.LayerNorm.bias", (H,)),
          ("cls.predictions.bias", (V,))]
    return p


def is_layernorm(name):
    return "LayerNorm" in name


def decays(name, shape):
    return len(shape) > 1  # weights and embeddings decay; LayerNorm and biases do not


def forward(c, P, ids, tt, mask):
    """BertForMaskedLM forward in eval mode (dropout off). Returns logits (B, S, V)."""
    B, S = ids.shape
    H, A = c["hidden_size"], c["num_attention_heads"]
    d = H // A
    eps = c["layer_norm_eps"]
    pre_ln = c.get("pre_layer_norm", False)
    ln = lambda x, pre: F.layer_norm(x, (H,), P[pre + ".weight"], P[pre + ".bias"], eps)
    lin = lambda x, pre: x @ P[pre + ".weight"].T + P[pre + ".bias"]
    e = (F.embedding(ids, P["bert.embeddings.word_embeddings.weight"], padding_idx=c["pad_token_id"])
         + P["bert.embeddings.position_embeddings.weight"][torch.arange(S)][None]
         + F.embedding(tt, P["bert.embeddings.token_type_embeddings.weight"]))
    x = ln(e, "bert.embeddings.LayerNorm")
    ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min  # HF extended mask
    for l in range(c["num_hidden_layers"]):
        pre = f"bert.encoder.layer.{l}."
        heads = lambda t: t.view(B, S, A, d).transpose(1, 2)
        x0 = x
        if pre_ln:
            x = ln(x, pre + "attention.LayerNorm")  # u1 = LN1(x)
        q, k, v = (heads(lin(x, pre + f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + ext
        ctx = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, S, H)
        if pre_ln:
            x1 = lin(ctx, pre + "attention.output.dense") + x0  # a = x + Wo ctx
            fin = ln(x1, pre + "intermediate.LayerNorm")
        else:
            x1 = ln(lin(ctx, pre + "attention.output.dense") + x, pre + "attention.output.LayerNorm")
            fin = x1
        if l in c["ffn_factorized_layers"]:
            f = (fin @ P[pre + "intermediate.dense.weight_v"].T) @ P[pre + "intermediate.dense.weight_u"].T \
                + P[pre + "intermediate.dense.bias"]
            g = F.gelu(f)
            o = (g @ P[pre + "output.dense.weight_v"].T) @ P[pre + "output.dense.weight_u"].T + P[pre + "output.dense.bias"]
        else:
            o = lin(F.gelu(lin(fin, pre + "intermediate.dense")), pre + "output.dense")
        x = o + x1 if pre_ln else ln(o + x1, pre + "output.LayerNorm")
    if pre_ln:
        x = ln(x, "bert.LayerNorm")
    t = ln(F.gelu(lin(x, "cls.predictions.transform.dense")), "cls.predictions.transform.LayerNorm")
    return t @ P["bert.embeddings.word_embeddings.weight"].T + P["cls.predictions.bias"]


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        dtype = {torch.float64: "F64", torch.int32: "I32"}[t.dtype]
        raw = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def make(name, c, seed):
    torch.manual_seed(seed)
    B, S = 2, 7
    V = c["vocab_size"]
    ids = torch.randint(0, V, (B, S), dtype=torch.int64)
    ids[0, 3] = c["pad_token_id"]  # a pad token inside a sequence: padding_idx gets no lookup gradient
    tt = torch.randint(0, c["type_vocab_size"], (B, S))
    mask = torch.ones(B, S, dtype=torch.int64)
    mask[1, S - 2:] = 0
    labels = torch.full((B, S), -100, dtype=torch.int64)
    for (b, s) in [(0, 1), (0, 3), (0, 5), (1, 0), (1, 2), (1, 4), (1, 6)]:
        labels[b, s] = torch.randint(0, V, ()).item()

    P = {}
    for n, shape in bert_parameters(c):
        base = 1.0 if (is_layernorm(n) and n.endswith(".weight")) else 0.0
        P[n] = (base + 0.4 * torch.randn(shape, dtype=torch.float64)).requires_grad_(True)
    params0 = {n: t.detach().clone() for n, t in P.items()}

    logits = forward(c, P, ids, tt, mask)
    loss = F.cross_entropy(logits.view(-1, V), labels.view(-1), ignore_index=-100)
    loss.backward()
    grads = {n: t.grad.detach().clone() for n, t in P.items()}

    lr, wd, b1, b2, eps = 1e-2, 0.01, 0.9, 0.999, 1e-8
    total_norm = torch.sqrt(sum((g ** 2).sum() for g in grads.values())).item()
    max_norm = 0.5 * total_norm  # clipping is active
    order = [n for n, _ in bert_parameters(c)]
    shapes = dict(bert_parameters(c))
    opt = torch.optim.AdamW([
        {"params": [P[n] for n in order if decays(n, shapes[n])], "weight_decay": wd},
        {"params": [P[n] for n in order if not decays(n, shapes[n])], "weight_decay": 0.0}],
        lr=lr, betas=(b1, b2), eps=eps)
    torch.nn.utils.clip_grad_norm_([P[n] for n in order], max_norm)
    opt.step()

    out = {"input_ids": ids.to(torch.int32), "token_type_ids": tt.to(torch.int32),
           "attention_mask": mask.to(torch.int32), "labels": labels.to(torch.int32),
           "logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for n in order:
        out["param." + n] = params0[n]
        out["grad." + n] = grads[n]
        out["adamw." + n] = P[n].detach().clone()
    meta = {"config": json.dumps(c), "lr": repr(lr), "weight_decay": repr(wd), "beta1": repr(b1),
            "beta2": repr(b2), "eps": repr(eps), "max_grad_norm": repr(max_norm),
            "generator": "tests/reference/golden/make_golden.py, torch " + torch.__version__}
    path = os.path.join(HERE, name + ".safetensors")
    write_safetensors(path, out, meta)
    print(path, os.path.getsize(path), "bytes, loss", loss.item(), "grad norm", total_norm)


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    base = {"vocab_size": 23, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 16, "type_vocab_size": 2,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0,
            "ffn_shared_layers": [], "ffn_share_factor": 1, "ffn_factorized_layers": [], "ffn_rank": 0}
    low = dict(base, num_hidden_layers=3, ffn_shared_layers=[1], ffn_share_factor=2,
               ffn_factorized_layers=[0], ffn_rank=3)
    # Pre-LN with the low-cost layers too (factorised layer 0, shared layer 1, standard layer 2).
    preln = dict(low, pre_layer_norm=True)
    cases = {"tiny": (base, 1234), "tiny_lowcost": (low, 4321), "tiny_preln": (preln, 2468)}
    for name in sys.argv[1:] or list(cases):
        make(name, *cases[name])
