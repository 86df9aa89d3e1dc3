#!/usr/bin/env python3
"""Recomputes the logits of a `growth eval --dump` file with another BERT implementation.

Usage: hf_eval_dump.py CHECKPOINT_DIR DUMP.safetensors [--tol 1e-4] [--double]

The dump holds the first evaluation batch: input_ids, token_type_ids, attention_mask, labels (I64, B x S;
labels -100 where not a target) and logits (F32, B x S x V) from the reference CPU BERT. This script runs
the same batch through
  1. a pure-PyTorch BertForMaskedLM written below (HF semantics: post-LN, erf GELU, additive mask with
     finfo.min, MLM head tied to the word embeddings; also the low-cost variants of the "growth" config
     block: shared layers simply have a narrower FFN, factorised layers compute x V^T U^T), always, and
  2. transformers.BertForMaskedLM.from_pretrained(CHECKPOINT_DIR), when transformers is importable and the
     config is a standard BERT,
and prints, per implementation, the max abs difference of the logits and the MLM loss over the labels
(dump vs recomputed). Exit status 1 if any difference exceeds --tol, 0 otherwise.

Only needs torch (Debian's python3-torch 1.13 works); safetensors files are parsed here (no safetensors
package needed). Evaluation mode throughout: dropout off.
"""
import argparse
import json
import math
import os
import struct
import sys

import torch

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path):
    """All tensors of a safetensors file as a dict name -> torch tensor (copies, little-endian host)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, t in header.items():
        dt = _DTYPES[t["dtype"]]
        b, e = t["data_offsets"]
        buf = bytearray(data[base + b:base + e])
        x = torch.frombuffer(buf, dtype=dt) if len(buf) else torch.empty(0, dtype=dt)
        out[name] = x.reshape(t["shape"]).clone()
    return out


def pure_torch_logits(cfg, p, ids, tt, mask, dtype):
    """BertForMaskedLM forward in eval mode; p = state dict with HF names."""
    g = lambda k: p[k].to(dtype)  # noqa: E731
    H = cfg["hidden_size"]
    A = cfg["num_attention_heads"]
    d = H // A
    eps = cfg.get("layer_norm_eps", 1e-12)
    B, S = ids.shape
    ln = lambda x, pre: torch.nn.functional.layer_norm(x, (H,), g(pre + ".weight"), g(pre + ".bias"), eps)  # noqa: E731
    gelu = lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))  # noqa: E731

    def dense(x, pre):
        if pre + ".weight" in p:
            y = x @ g(pre + ".weight").T
        else:  # factorised: W = U V
            y = (x @ g(pre + ".weight_v").T) @ g(pre + ".weight_u").T
        return y + g(pre + ".bias")

    e = "bert.embeddings."
    x = g(e + "word_embeddings.weight")[ids] + g(e + "position_embeddings.weight")[:S][None] + \
        g(e + "token_type_embeddings.weight")[tt]
    x = ln(x, e + "LayerNorm")
    key_bias = (1.0 - mask.to(dtype))[:, None, None, :] * torch.finfo(dtype).min
    for l in range(cfg["num_hidden_layers"]):
        pre = f"bert.encoder.layer.{l}."
        heads = lambda t: t.view(B, S, A, d).transpose(1, 2)  # noqa: E731
        q = heads(dense(x, pre + "attention.self.query"))
        k = heads(dense(x, pre + "attention.self.key"))
        v = heads(dense(x, pre + "attention.self.value"))
        s = q @ k.transpose(-1, -2) / math.sqrt(d) + key_bias
        ctx = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, S, H)
        x = ln(dense(ctx, pre + "attention.output.dense") + x, pre + "attention.output.LayerNorm")
        f = gelu(dense(x, pre + "intermediate.dense"))
        x = ln(dense(f, pre + "output.dense") + x, pre + "output.LayerNorm")
    h = ln(gelu(dense(x, "cls.predictions.transform.dense")), "cls.predictions.transform.LayerNorm")
    return h @ g("bert.embeddings.word_embeddings.weight").T + g("cls.predictions.bias")


def mlm_loss(logits, labels):
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), labels.reshape(-1),
                                             ignore_index=-100).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("dump")
    ap.add_argument("--tol", type=float, default=1e-4, help="max abs logit difference allowed (default 1e-4)")
    ap.add_argument("--double", action="store_true", help="pure-torch path in float64 instead of float32")
    a = ap.parse_args()

    with open(os.path.join(a.checkpoint, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("growth", {}).get("pre_layer_norm", False):
        sys.exit("hf_eval_dump.py: a pre-LN checkpoint (growth.pre_layer_norm); use "
                 "scripts/export_roberta_prelayernorm.py SRC OUT --check DUMP (docs/prelayernorm.md)")
    if cfg.get("growth", {}).get("pool_size", 1) != 1:
        sys.exit("hf_eval_dump.py: growth.pool_size > 1 is not supported (the reference BERT refuses it too)")
    params = read_safetensors(os.path.join(a.checkpoint, "model.safetensors"))
    dump = read_safetensors(a.dump)
    ids, tt, mask, labels = (dump[k].long() for k in ("input_ids", "token_type_ids", "attention_mask", "labels"))
    ref = dump["logits"].double()
    print(f"dump: batch {tuple(ids.shape)}, logits {tuple(ref.shape)}, {int((labels != -100).sum())} targets, "
          f"loss {mlm_loss(ref, labels):.6f}")

    ok = True
    with torch.no_grad():
        dt = torch.float64 if a.double else torch.float32
        mine = pure_torch_logits(cfg, params, ids, tt, mask, dt).double()
        diff = (mine - ref).abs().max().item()
        print(f"pure torch ({str(dt).replace('torch.', '')}): max_abs_diff={diff:.3e} loss={mlm_loss(mine, labels):.6f}")
        ok = ok and diff <= a.tol
        try:
            import transformers  # noqa: F401
            have_hf = True
        except ImportError:
            have_hf = False
        growth_block = cfg.get("growth", {})
        standard = not growth_block.get("ffn_shared_layers") and not growth_block.get("ffn_factorized_layers")
        if have_hf and standard:
            from transformers import BertForMaskedLM
            m = BertForMaskedLM.from_pretrained(a.checkpoint).eval()
            hf = m(input_ids=ids, token_type_ids=tt, attention_mask=mask).logits.double()
            diff = (hf - ref).abs().max().item()
            print(f"transformers {transformers.__version__}: max_abs_diff={diff:.3e} loss={mlm_loss(hf, labels):.6f}")
            ok = ok and diff <= a.tol
        else:
            print("transformers: " + ("not importable" if not have_hf else "skipped (low-cost growth config)"))
    print("OK" if ok else f"FAIL: a difference exceeds --tol {a.tol}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
