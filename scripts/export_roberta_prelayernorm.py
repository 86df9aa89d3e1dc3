#!/usr/bin/env python3
"""Converts a pre-LN growth checkpoint into a Hugging Face `roberta-prelayernorm` folder.

Usage:
    export_roberta_prelayernorm.py SRC_DIR OUT_DIR [--check DUMP.safetensors] [--tol 1e-4]
    export_roberta_prelayernorm.py --check-golden tests/reference/golden/tiny_preln.safetensors

Why a conversion (docs/prelayernorm.md): a pre-LN growth folder (config.json with "growth":
{"pre_layer_norm": true}) computes what transformers' RobertaPreLayerNormForMaskedLM computes, except
  1. positions: we embed token s of a sequence at row s of the position table (0..S-1, BERT style);
     RobertaPreLayerNorm computes position ids from the input ids, cumsum(ids != pad) * (ids != pad) + pad,
     i.e. row s + pad + 1 for the real tokens of a sequence without a pad id before them, and row pad for
     every pad id (padding_idx + 1 offset, fairseq's convention);
  2. names: HF prefixes roberta_prelayernorm. / lm_head. (lm_head.dense, lm_head.layer_norm, lm_head.bias)
     where we keep bert. / cls.predictions. (and model_type must be "bert" for our reader);
  3. the low-cost variants have no HF counterpart.
So this script writes: the position table shifted down by pad + 1 rows (rows 0..pad zero,
max_position_embeddings = P + pad + 1), renamed tensors, factorised FFNs multiplied out (W = U V: the same
function), shared (narrower) FFNs zero-padded to intermediate_size (new neurons: W1 rows 0, b1 0, W2 columns
0, so they add GELU(0) * 0 = 0), a RobertaPreLayerNormConfig config.json ("tokenizer_class":
"BertTokenizer": the vocabulary stays WordPiece) and vocab.txt. Mean embedding pooling (pool_size > 1) is
refused: it is another forward pass.

The HF model then reproduces our logits
  - at every position, given position_ids = pad + 1 + arange(S) explicitly;
  - with its default position ids, at every position whose default id equals s + pad + 1: every real
    (attention-masked-in) token of a right-padded sequence with no pad id among its real tokens. Pad
    positions differ (their own logits only: they are masked as keys).

--check / --check-golden recompute the logits with a pure-torch RobertaPreLayerNormForMaskedLM forward
written below after transformers' modeling_roberta_prelayernorm.py (and with transformers itself when it is
importable), on the converted tensors, and compare them with our logits (a `growth eval --dump` file, or the
parity golden file, whose batch has a pad id inside a sequence and right padding). Exit status 1 if a
difference exceeds --tol (relative to max |logit|).

Needs only torch (Debian's python3-torch); safetensors is parsed and written here.
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys
import tempfile

import torch

_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        buf = bytearray(data[8 + n + b:8 + n + e])
        dt = _DTYPES[t["dtype"]]
        x = torch.frombuffer(buf, dtype=dt) if len(buf) else torch.empty(0, dtype=dt)
        out[name] = x.reshape(t["shape"]).clone()
    return out, meta


def write_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}  # transformers refuses safetensors without format "pt"
    blobs, off = [], 0
    for name, t in tensors.items():
        raw = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def growth_fields(cfg):
    """Our config.json keeps the low-cost fields under "growth"; the golden file's config has them flat."""
    g = dict(cfg.get("growth", {}))
    for k in ("ffn_shared_layers", "ffn_share_factor", "ffn_factorized_layers", "ffn_rank", "pool_size",
              "pre_layer_norm"):
        if k in cfg:
            g[k] = cfg[k]
    return g


def convert(cfg, p):
    """(our config, our state dict) -> (HF RobertaPreLayerNormConfig dict, HF state dict)."""
    g = growth_fields(cfg)
    if not g.get("pre_layer_norm", False):
        sys.exit("export_roberta_prelayernorm.py: the checkpoint is post-LN (growth.pre_layer_norm absent or false); "
                 "post-LN folders are already Hugging Face BertForMaskedLM folders")
    if g.get("pool_size", 1) != 1:
        sys.exit("export_roberta_prelayernorm.py: growth.pool_size > 1 (mean embedding pooling) has no HF counterpart")
    pad, P, I = cfg.get("pad_token_id", 0), cfg["max_position_embeddings"], cfg["intermediate_size"]
    H = cfg["hidden_size"]
    f = lambda k: p[k].to(torch.float64)  # noqa: E731
    out = {}
    e, r = "bert.embeddings.", "roberta_prelayernorm.embeddings."
    out[r + "word_embeddings.weight"] = f(e + "word_embeddings.weight")
    pos = torch.zeros(P + pad + 1, H, dtype=torch.float64)
    pos[pad + 1:] = f(e + "position_embeddings.weight")  # our row s -> HF row s + pad + 1
    out[r + "position_embeddings.weight"] = pos
    out[r + "token_type_embeddings.weight"] = f(e + "token_type_embeddings.weight")
    for k in ("weight", "bias"):
        out[r + "LayerNorm." + k] = f(e + "LayerNorm." + k)
    for l in range(cfg["num_hidden_layers"]):
        a, b = f"bert.encoder.layer.{l}.", f"roberta_prelayernorm.encoder.layer.{l}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            for k in ("weight", "bias"):
                out[b + n + "." + k] = f(a + n + "." + k)
        for n in ("attention.LayerNorm", "intermediate.LayerNorm"):
            for k in ("weight", "bias"):
                out[b + n + "." + k] = f(a + n + "." + k)
        w = {}
        for n in ("intermediate.dense", "output.dense"):
            w[n] = f(a + n + ".weight") if a + n + ".weight" in p else f(a + n + ".weight_u") @ f(a + n + ".weight_v")
        w1, b1, w2 = w["intermediate.dense"], f(a + "intermediate.dense.bias"), w["output.dense"]
        if w1.shape[0] < I:  # shared (narrower) FFN: zero neurons up to intermediate_size
            extra = I - w1.shape[0]
            w1 = torch.cat([w1, torch.zeros(extra, H, dtype=torch.float64)])
            b1 = torch.cat([b1, torch.zeros(extra, dtype=torch.float64)])
            w2 = torch.cat([w2, torch.zeros(H, extra, dtype=torch.float64)], dim=1)
        out[b + "intermediate.dense.weight"], out[b + "intermediate.dense.bias"] = w1, b1
        out[b + "output.dense.weight"], out[b + "output.dense.bias"] = w2, f(a + "output.dense.bias")
    for k in ("weight", "bias"):
        out["roberta_prelayernorm.LayerNorm." + k] = f("bert.LayerNorm." + k)
        out["lm_head.dense." + k] = f("cls.predictions.transform.dense." + k)
        out["lm_head.layer_norm." + k] = f("cls.predictions.transform.LayerNorm." + k)
    out["lm_head.bias"] = f("cls.predictions.bias")  # lm_head.decoder: tied to the word embeddings
    hf = {"architectures": ["RobertaPreLayerNormForMaskedLM"], "model_type": "roberta-prelayernorm",
          "vocab_size": cfg["vocab_size"], "hidden_size": H, "num_hidden_layers": cfg["num_hidden_layers"],
          "num_attention_heads": cfg["num_attention_heads"], "intermediate_size": I,
          "hidden_act": cfg.get("hidden_act", "gelu"),
          "hidden_dropout_prob": cfg.get("hidden_dropout_prob", 0.1),
          "attention_probs_dropout_prob": cfg.get("attention_probs_dropout_prob", 0.1),
          "max_position_embeddings": P + pad + 1, "type_vocab_size": cfg.get("type_vocab_size", 2),
          "initializer_range": cfg.get("initializer_range", 0.02), "layer_norm_eps": cfg.get("layer_norm_eps", 1e-12),
          "pad_token_id": pad, "position_embedding_type": "absolute", "tie_word_embeddings": True,
          "tokenizer_class": "BertTokenizer"}
    return hf, out


def default_position_ids(ids, pad):
    """transformers' create_position_ids_from_input_ids (past_key_values_length = 0)."""
    m = ids.ne(pad).int()
    return (torch.cumsum(m, dim=1).type_as(m) * m).long() + pad


def roberta_prelayernorm_logits(hf, p, ids, tt, mask, position_ids=None, dtype=torch.float64):
    """RobertaPreLayerNormForMaskedLM forward in eval mode, after transformers' modeling_roberta_prelayernorm.py."""
    g = lambda k: p[k].to(dtype)  # noqa: E731
    H, A, eps = hf["hidden_size"], hf["num_attention_heads"], hf["layer_norm_eps"]
    d = H // A
    B, S = ids.shape
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (H,), g(n + ".weight"), g(n + ".bias"), eps)  # noqa: E731
    lin = lambda x, n: x @ g(n + ".weight").T + g(n + ".bias")  # noqa: E731
    gelu = lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))  # noqa: E731
    if position_ids is None:
        position_ids = default_position_ids(ids, hf["pad_token_id"])
    e = "roberta_prelayernorm.embeddings."
    x = g(e + "word_embeddings.weight")[ids] + g(e + "token_type_embeddings.weight")[tt] + \
        g(e + "position_embeddings.weight")[position_ids]
    x = ln(x, e + "LayerNorm")
    key_bias = (1.0 - mask.to(dtype))[:, None, None, :] * torch.finfo(dtype).min
    for l in range(hf["num_hidden_layers"]):
        pre = f"roberta_prelayernorm.encoder.layer.{l}."
        heads = lambda t: t.view(B, S, A, d).transpose(1, 2)  # noqa: E731
        h = ln(x, pre + "attention.LayerNorm")
        q, k, v = (heads(lin(h, pre + "attention.self." + n)) for n in ("query", "key", "value"))
        ctx = (torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + key_bias, dim=-1) @ v)
        x = lin(ctx.transpose(1, 2).reshape(B, S, H), pre + "attention.output.dense") + x
        f = gelu(lin(ln(x, pre + "intermediate.LayerNorm"), pre + "intermediate.dense"))
        x = lin(f, pre + "output.dense") + x
    x = ln(x, "roberta_prelayernorm.LayerNorm")
    t = ln(gelu(lin(x, "lm_head.dense")), "lm_head.layer_norm")
    return t @ g("roberta_prelayernorm.embeddings.word_embeddings.weight").T + g("lm_head.bias")


def rel(a, b, where=None):
    diff = (a - b).abs()
    if where is not None:
        diff, b = diff[where], b[where]
    return diff.max().item() / max(b.abs().max().item(), 1e-30)


def check(hf, p, ids, tt, mask, ref, tol, out_dir=None):
    """Our logits `ref` vs the HF arrangement on the converted tensors; returns True when all within tol."""
    pad = hf["pad_token_id"]
    S = ids.shape[1]
    explicit = (pad + 1 + torch.arange(S))[None].expand_as(ids)
    # Attention mixes the real tokens of a sequence, so HF's default ids give our logits only in sequences
    # where they equal s + pad + 1 at every real token (no pad id among the real tokens).
    same = default_position_ids(ids, pad).eq(explicit) | ~mask.bool()
    agree = same.all(dim=1, keepdim=True) & mask.bool()
    print(f"batch {tuple(ids.shape)}: {int(mask.sum())} real tokens, {int(agree.sum())} in sequences where HF's "
          f"default position ids equal s + pad + 1 at every real token")
    ok = True
    with torch.no_grad():
        runs = [("pure torch RobertaPreLayerNorm (float64)", lambda pos: roberta_prelayernorm_logits(hf, p, ids, tt, mask, pos))]
        try:
            import transformers
            from transformers import RobertaPreLayerNormForMaskedLM
            if out_dir is not None:
                m = RobertaPreLayerNormForMaskedLM.from_pretrained(out_dir).eval()
                runs.append((f"transformers {transformers.__version__} RobertaPreLayerNormForMaskedLM",
                             lambda pos: m(input_ids=ids, token_type_ids=tt, attention_mask=mask,
                                           position_ids=pos).logits.double()))
        except ImportError:
            print("transformers: not importable (pure-torch transcription only)")
        for name, run in runs:
            e_all = rel(run(explicit).double(), ref)
            default = run(None).double()
            e_agree = rel(default, ref, agree) if agree.any() else 0.0
            e_other = rel(default, ref, mask.bool() & ~agree) if (mask.bool() & ~agree).any() else float("nan")
            print(f"{name}: explicit position_ids, every position: rel {e_all:.3e}; default position ids: "
                  f"rel {e_agree:.3e} where they agree, {e_other:.3e} on the other real tokens")
            ok = ok and e_all <= tol and e_agree <= tol
    print("OK" if ok else f"FAIL: a difference exceeds --tol {tol}")
    return ok


def write_folder(out, hf, hp):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(hf, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out, "model.safetensors"), hp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--check", help="a `growth eval --dump` file of SRC: compare its logits")
    ap.add_argument("--check-golden", help="the parity golden file tiny_preln.safetensors: convert and compare")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    if a.check_golden:
        t, meta = read_safetensors(a.check_golden)
        cfg = json.loads(meta["config"])
        p = {k[len("param."):]: v for k, v in t.items() if k.startswith("param.")}
        hf, hp = convert(cfg, p)
        ids, tt, mask = (t[k].long() for k in ("input_ids", "token_type_ids", "attention_mask"))
        with tempfile.TemporaryDirectory() as out:  # a folder for transformers, when it is importable
            write_folder(out, hf, hp)
            return 0 if check(hf, hp, ids, tt, mask, t["logits"].double(), a.tol, out) else 1
    if not a.src or not a.out:
        ap.error("SRC_DIR and OUT_DIR are required (or --check-golden FILE)")
    with open(os.path.join(a.src, "config.json")) as f:
        cfg = json.load(f)
    p, _ = read_safetensors(os.path.join(a.src, "model.safetensors"))
    hf, hp = convert(cfg, p)
    write_folder(a.out, hf, hp)
    if os.path.exists(os.path.join(a.src, "vocab.txt")):
        shutil.copyfile(os.path.join(a.src, "vocab.txt"), os.path.join(a.out, "vocab.txt"))
    print(f"wrote {a.out}: RobertaPreLayerNormForMaskedLM, max_position_embeddings {hf['max_position_embeddings']}")
    if a.check:
        d, _ = read_safetensors(a.check)
        ids, tt, mask = (d[k].long() for k in ("input_ids", "token_type_ids", "attention_mask"))
        hp32, _ = read_safetensors(os.path.join(a.out, "model.safetensors"))  # what HF will load (F32)
        return 0 if check(hf, hp32, ids, tt, mask, d["logits"].double(), a.tol, a.out) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
