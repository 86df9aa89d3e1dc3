#!/usr/bin/python3
"""Golden files for the reference sequence classifier (tests/reference/test_classifier.cpp).

Pure PyTorch BertForSequenceClassification (Hugging Face architecture and parameter names, written out by
hand as make_golden.py does: python3-transformers is not in Debian), float64, dropout off:
    x = encoder(ids, token_type_ids, mask)[:, 0]          (pre-LN: the final LayerNorm bert.LayerNorm)
    logits = classifier(tanh(bert.pooler.dense(x)))
    loss = cross_entropy(logits, labels)                   (mean over the batch)
The batch is sentence pairs, [CLS] A [SEP] B [SEP] with token_type_ids 0 then 1, one padded row. Writes the
batch, all parameters (encoder without the MLM head cls.*, then pooler and classifier), the logits, the
loss, every gradient and the parameters after one torch.optim.AdamW step with global clipping active.

Run once (the outputs are committed; tests never need torch):
    /usr/bin/python3 tests/reference/golden/make_golden_classifier.py [tiny_cls] [tiny_cls_preln]
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import HERE, bert_parameters, decays, is_layernorm, write_safetensors  # noqa: E402


def classifier_parameters(c, K):
    enc = [(n, s) for n, s in bert_parameters(c) if not n.startswith("cls.")]
    H = c["hidden_size"]
    return enc + [("bert.pooler.dense.weight", (H, H)), ("bert.pooler.dense.bias", (H,)),
                  ("classifier.weight", (K, H)), ("classifier.bias", (K,))]


def encoder(c, P, ids, tt, mask):
    """The BERT encoder of make_golden.forward (eval mode), up to the sequence output (B, S, H)."""
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
    ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
    for l in range(c["num_hidden_layers"]):
        pre = f"bert.encoder.layer.{l}."
        heads = lambda t: t.view(B, S, A, d).transpose(1, 2)
        x0 = x
        if pre_ln:
            x = ln(x, pre + "attention.LayerNorm")
        q, k, v = (heads(lin(x, pre + f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + ext
        ctx = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, S, H)
        if pre_ln:
            x1 = lin(ctx, pre + "attention.output.dense") + x0
            fin = ln(x1, pre + "intermediate.LayerNorm")
        else:
            x1 = ln(lin(ctx, pre + "attention.output.dense") + x, pre + "attention.output.LayerNorm")
            fin = x1
        if l in c["ffn_factorized_layers"]:
            f = (fin @ P[pre + "intermediate.dense.weight_v"].T) @ P[pre + "intermediate.dense.weight_u"].T \
                + P[pre + "intermediate.dense.bias"]
            o = (F.gelu(f) @ P[pre + "output.dense.weight_v"].T) @ P[pre + "output.dense.weight_u"].T \
                + P[pre + "output.dense.bias"]
        else:
            o = lin(F.gelu(lin(fin, pre + "intermediate.dense")), pre + "output.dense")
        x = o + x1 if pre_ln else ln(o + x1, pre + "output.LayerNorm")
    if pre_ln:
        x = ln(x, "bert.LayerNorm")
    return x


def make(name, c, K, seed):
    torch.manual_seed(seed)
    B, S = 3, 7
    V = c["vocab_size"]
    ids = torch.randint(5, V, (B, S), dtype=torch.int64)
    tt = torch.zeros(B, S, dtype=torch.int64)
    mask = torch.ones(B, S, dtype=torch.int64)
    # [CLS]=1 A [SEP]=2 B [SEP]=2: segment 1 from B on; row 2 is shorter and padded (pad id 0).
    for b, (la, lb) in enumerate([(2, 2), (1, 3), (2, 1)]):
        ids[b, 0] = 1
        ids[b, 1 + la] = 2
        ids[b, 2 + la + lb] = 2
        tt[b, 2 + la:3 + la + lb] = 1
        ids[b, 3 + la + lb:] = c["pad_token_id"]
        mask[b, 3 + la + lb:] = 0
    labels = torch.randint(0, K, (B,), dtype=torch.int64)

    spec = classifier_parameters(c, K)
    P = {}
    for n, shape in spec:
        base = 1.0 if (is_layernorm(n) and n.endswith(".weight")) else 0.0
        P[n] = (base + 0.4 * torch.randn(shape, dtype=torch.float64)).requires_grad_(True)
    params0 = {n: t.detach().clone() for n, t in P.items()}

    x = encoder(c, P, ids, tt, mask)[:, 0]
    pooled = torch.tanh(x @ P["bert.pooler.dense.weight"].T + P["bert.pooler.dense.bias"])
    logits = pooled @ P["classifier.weight"].T + P["classifier.bias"]
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    grads = {n: t.grad.detach().clone() for n, t in P.items()}

    lr, wd, b1, b2, eps = 1e-2, 0.01, 0.9, 0.999, 1e-8
    total_norm = torch.sqrt(sum((g ** 2).sum() for g in grads.values())).item()
    max_norm = 0.5 * total_norm
    order = [n for n, _ in spec]
    shapes = dict(spec)
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
    meta = {"config": json.dumps(c), "num_labels": str(K), "lr": repr(lr), "weight_decay": repr(wd),
            "beta1": repr(b1), "beta2": repr(b2), "eps": repr(eps), "max_grad_norm": repr(max_norm),
            "generator": "tests/reference/golden/make_golden_classifier.py, torch " + torch.__version__}
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
    preln = dict(base, num_hidden_layers=3, ffn_shared_layers=[1], ffn_share_factor=2,
                 ffn_factorized_layers=[0], ffn_rank=3, pre_layer_norm=True)
    cases = {"tiny_cls": (base, 3, 1357), "tiny_cls_preln": (preln, 3, 2468)}
    for name in sys.argv[1:] or list(cases):
        make(name, *cases[name])
