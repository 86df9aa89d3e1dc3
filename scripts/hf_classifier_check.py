#!/usr/bin/env python3
"""Checks a `growth finetune --out` folder against Hugging Face BertForSequenceClassification.

Usage: hf_classifier_check.py FINETUNED_DIR [--tol 1e-4]

1. config.json: architectures ["BertForSequenceClassification"], num_labels, id2label / label2id consistent;
2. model.safetensors: exactly the state-dict names and shapes transformers' BertForSequenceClassification
   has for this config (encoder bert.*, bert.pooler.dense.*, classifier.*; no MLM head), listed by hand;
3. when transformers is importable and the config is a standard post-LN BERT: from_pretrained(DIR) and its
   logits on a random sentence-pair batch vs a pure-PyTorch forward of the same weights (written below).
Exit status 1 on any mismatch. Needs only torch (safetensors parsed by scripts/hf_eval_dump.py's reader).
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_eval_dump import read_safetensors  # noqa: E402


def expected_shapes(c):
    H, I, K = c["hidden_size"], c["intermediate_size"], c["num_labels"]
    e = {"bert.embeddings.word_embeddings.weight": [c["vocab_size"], H],
         "bert.embeddings.position_embeddings.weight": [c["max_position_embeddings"], H],
         "bert.embeddings.token_type_embeddings.weight": [c["type_vocab_size"], H],
         "bert.embeddings.LayerNorm.weight": [H], "bert.embeddings.LayerNorm.bias": [H]}
    for l in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{l}."
        for n in ("query", "key", "value"):
            e[p + f"attention.self.{n}.weight"] = [H, H]
            e[p + f"attention.self.{n}.bias"] = [H]
        e.update({p + "attention.output.dense.weight": [H, H], p + "attention.output.dense.bias": [H],
                  p + "attention.output.LayerNorm.weight": [H], p + "attention.output.LayerNorm.bias": [H],
                  p + "intermediate.dense.weight": [I, H], p + "intermediate.dense.bias": [I],
                  p + "output.dense.weight": [H, I], p + "output.dense.bias": [H],
                  p + "output.LayerNorm.weight": [H], p + "output.LayerNorm.bias": [H]})
    e.update({"bert.pooler.dense.weight": [H, H], "bert.pooler.dense.bias": [H],
              "classifier.weight": [K, H], "classifier.bias": [K]})
    return e


def pure_torch_logits(c, p, ids, tt, mask):
    H, A = c["hidden_size"], c["num_attention_heads"]
    d, eps = H // A, c.get("layer_norm_eps", 1e-12)
    B, S = ids.shape
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (H,), p[n + ".weight"], p[n + ".bias"], eps)  # noqa: E731
    lin = lambda x, n: x @ p[n + ".weight"].T + p[n + ".bias"]  # noqa: E731
    gelu = lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))  # noqa: E731
    e = "bert.embeddings."
    x = ln(p[e + "word_embeddings.weight"][ids] + p[e + "position_embeddings.weight"][:S][None] +
           p[e + "token_type_embeddings.weight"][tt], e + "LayerNorm")
    kb = (1.0 - mask.float())[:, None, None, :] * torch.finfo(torch.float32).min
    for l in range(c["num_hidden_layers"]):
        pre = f"bert.encoder.layer.{l}."
        heads = lambda t: t.view(B, S, A, d).transpose(1, 2)  # noqa: E731
        q, k, v = (heads(lin(x, pre + f"attention.self.{n}")) for n in ("query", "key", "value"))
        ctx = (torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + kb, dim=-1) @ v).transpose(1, 2).reshape(B, S, H)
        x = ln(lin(ctx, pre + "attention.output.dense") + x, pre + "attention.output.LayerNorm")
        x = ln(lin(gelu(lin(x, pre + "intermediate.dense")), pre + "output.dense") + x, pre + "output.LayerNorm")
    return lin(torch.tanh(lin(x[:, 0], "bert.pooler.dense")), "classifier")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    with open(os.path.join(a.folder, "config.json")) as f:
        c = json.load(f)
    ok = c.get("architectures") == ["BertForSequenceClassification"]
    K = c.get("num_labels", 0)
    ok = ok and len(c.get("id2label", {})) == K and all(c["label2id"][v] == int(k) for k, v in c["id2label"].items())
    print(f"config: architectures {c.get('architectures')}, num_labels {K}: {'ok' if ok else 'MISMATCH'}")
    p = read_safetensors(os.path.join(a.folder, "model.safetensors"))
    g = c.get("growth", {})
    if g.get("pre_layer_norm") or g.get("ffn_shared_layers") or g.get("ffn_factorized_layers"):
        print("a pre-LN or low-cost model: names are checked by the C++ tests only (docs/cli.md)")
        return 0 if ok else 1
    exp = expected_shapes(c)
    got = {n: list(t.shape) for n, t in p.items()}
    names_ok = got == exp
    for n in sorted(set(exp) ^ set(got)):
        print("  name", n, "only in", "the file" if n in got else "BertForSequenceClassification")
    for n in sorted(set(exp) & set(got)):
        if exp[n] != got[n]:
            print("  shape", n, got[n], "expected", exp[n])
    print(f"tensors: {len(got)} in the file, {len(exp)} expected: {'ok' if names_ok else 'MISMATCH'}")
    ok = ok and names_ok
    torch.manual_seed(0)
    B, S = 3, min(12, c["max_position_embeddings"])
    ids = torch.randint(5, c["vocab_size"], (B, S))
    tt = torch.zeros(B, S, dtype=torch.long)
    tt[:, S // 2:] = 1
    mask = torch.ones(B, S, dtype=torch.long)
    mask[2, S - 3:] = 0
    with torch.no_grad():
        mine = pure_torch_logits(c, {n: t.float() for n, t in p.items()}, ids, tt, mask)
        print("pure torch logits:", [round(v, 4) for v in mine[0].tolist()])
        try:
            import transformers
            from transformers import BertForSequenceClassification
        except ImportError:
            print("transformers not installed: from_pretrained not checked")
            return 0 if ok else 1
        m = BertForSequenceClassification.from_pretrained(a.folder).eval()
        hf = m(input_ids=ids, token_type_ids=tt, attention_mask=mask).logits
        diff = (hf - mine).abs().max().item()
        print(f"transformers {transformers.__version__}: max_abs_diff={diff:.3e}")
        ok = ok and diff <= a.tol
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
