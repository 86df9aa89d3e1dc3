#!/usr/bin/env python3
"""Recomputes the logits of a `growth eval --dump` file of a decoder LM folder with another implementation.

Usage: hf_eval_dump_decoder.py CHECKPOINT_DIR DUMP.safetensors [--tol 1e-4]

The dump (growth eval on a llama / mistral / qwen2 / gpt2 folder) holds the first evaluation batch:
input_ids, attention_mask, labels (I64, B x S; labels unshifted, -100 at padding) and logits (F32, B x S x V)
from the reference causal LM. This script runs the same batch through
  1. the functional-torch LlamaForCausalLM / GPT2LMHeadModel of tests/reference/golden/make_decoder_golden.py
     (transformers' math written out, float64), always, and
  2. transformers' LlamaForCausalLM / GPT2LMHeadModel (AutoModelForCausalLM.from_pretrained), when
     transformers is importable,
and prints, per implementation, the max abs difference of the logits on real (unpadded) positions and the
next-token loss (logits[:, :-1] against labels[:, 1:], as HF computes it). Exit status 1 if any difference
exceeds --tol, 0 otherwise. Needs only torch; safetensors are parsed by hf_eval_dump.py's reader.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference", "golden"))
from hf_eval_dump import read_safetensors  # noqa: E402
from make_decoder_golden import gpt2_forward, llama_forward  # noqa: E402

torch.set_default_dtype(torch.float64)  # the functional forwards build their masks in the default dtype


def internal_config(hf):
    """config.json (each family's HF spelling) -> the dict make_decoder_golden.py's forwards read."""
    t = hf.get("model_type")
    if t == "gpt2":
        return {"model_type": "gpt2", "hidden_size": hf["n_embd"], "num_attention_heads": hf["n_head"],
                "num_hidden_layers": hf["n_layer"], "layer_norm_epsilon": hf.get("layer_norm_epsilon", 1e-5)}
    if t not in ("llama", "mistral", "qwen2"):
        sys.exit(f"hf_eval_dump_decoder.py: model_type {t!r} is not a decoder family (use hf_eval_dump.py for BERT)")
    heads = hf["num_attention_heads"]
    attn_bias = bool(hf.get("attention_bias", False))
    return {"model_type": t, "hidden_size": hf["hidden_size"], "num_attention_heads": heads,
            "num_key_value_heads": hf.get("num_key_value_heads") or heads, "head_dim": hf.get("head_dim"),
            "num_hidden_layers": hf["num_hidden_layers"], "rms_norm_eps": hf.get("rms_norm_eps", 1e-6),
            "rope_theta": hf.get("rope_theta", 10000.0), "pad_token_id": hf.get("pad_token_id"),
            "qkv_bias": t == "qwen2" or attn_bias, "o_bias": t != "qwen2" and attn_bias,
            "mlp_bias": bool(hf.get("mlp_bias", False)), "tie_word_embeddings": bool(hf.get("tie_word_embeddings", False))}


def clm_loss(logits, labels):
    v = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, v), labels[:, 1:].reshape(-1), ignore_index=-100).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("dump")
    ap.add_argument("--tol", type=float, default=1e-4, help="max abs logit difference allowed (default 1e-4)")
    a = ap.parse_args()
    with open(os.path.join(a.checkpoint, "config.json")) as f:
        hf = json.load(f)
    c = internal_config(hf)
    P = {k: v.double() for k, v in read_safetensors(os.path.join(a.checkpoint, "model.safetensors")).items()}
    dump = read_safetensors(a.dump)
    ids, mask, labels = (dump[k].long() for k in ("input_ids", "attention_mask", "labels"))
    ref = dump["logits"].double()
    real = mask.bool()
    print(f"dump: batch {tuple(ids.shape)}, logits {tuple(ref.shape)}, {int((labels[:, 1:] != -100).sum())} targets, "
          f"loss {clm_loss(ref, labels):.6f}")
    ok = True
    with torch.no_grad():
        fwd = gpt2_forward if c["model_type"] == "gpt2" else llama_forward
        mine = fwd(c, P, ids, mask)
        diff = (mine - ref)[real].abs().max().item()
        print(f"functional torch (float64): max_abs_diff={diff:.3e} loss={clm_loss(mine, labels):.6f}")
        ok = ok and diff <= a.tol
        try:
            import transformers
            from transformers import AutoModelForCausalLM
        except ImportError:
            transformers = None
        if transformers is not None:
            m = AutoModelForCausalLM.from_pretrained(a.checkpoint).eval()
            hl = m(input_ids=ids, attention_mask=mask).logits.double()
            diff = (hl - ref)[real].abs().max().item()
            print(f"transformers {transformers.__version__}: max_abs_diff={diff:.3e} loss={clm_loss(hl, labels):.6f}")
            ok = ok and diff <= a.tol
        else:
            print("transformers: not installed (skipped)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
