#!/usr/bin/python3
"""Golden files for the reference causal LM parity test (tests/reference/test_causal_lm_parity.cpp).

Hugging Face LlamaForCausalLM and GPT2LMHeadModel written out by hand in functional torch (the
transformers package is not installed; the math follows transformers' modeling_llama.py and
modeling_gpt2.py, eager attention), float64, dropout off, with the HF parameter names and storage layouts
of growth::model::decoder_parameters:
  - llama: RMSNorm w * x * rsqrt(mean(x^2) + eps); rotary embeddings, inv_freq = 1 / theta^(arange(0, d, 2)
    / d), cos / sin of positions 0..S-1 times inv_freq duplicated over both halves, q * cos +
    rotate_half(q) * sin; grouped-query attention (repeat_kv); causal mask and padding mask as finfo.min;
    SwiGLU MLP down(silu(gate x) * up x); embed_tokens with padding_idx = pad_token_id (no lookup gradient
    to that row); untied lm_head. The file's config has q/k/v biases (Qwen2-style).
  - gpt2: LayerNorm, wte + wpe, Conv1D c_attn (x W + b, W stored in x out) split into q, k, v; scores /
    sqrt(head_dim), torch.where(causal, w, finfo.min), + (1 - mask) finfo.min; gelu_new; ln_f; lm_head tied to
    wte.
Loss: LM loss with labels shifted by one inside (HF's convention: logits[:, :-1] against labels[:, 1:],
ignore_index -100, mean over the scored targets).

For each tiny config and a fixed batch it writes: the batch, all parameters, the logits of every position,
the loss, every gradient, and the parameters after one torch.optim.AdamW step (weight decay off for norms and
biases, global grad-norm clipping active), as safetensors (F64 / I32, the config and the optimizer settings
in __metadata__; the writer of make_golden.py).

Run once (the outputs are committed; tests never need torch); names select files (default: all):
    /usr/bin/python3 tests/reference/golden/make_decoder_golden.py [tiny_llama] [tiny_gpt2]
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ next to the golden files
sys.path.insert(0, HERE)
from make_golden import write_safetensors  # noqa: E402


def head_dim(c):
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def decoder_parameters(c):
    """(name, shape) in the order of growth::model::decoder_parameters."""
    H, V, I, L = c["hidden_size"], c["vocab_size"], c["intermediate_size"], c["num_hidden_layers"]
    if c["model_type"] == "gpt2":
        p = [("transformer.wte.weight", (V, H)), ("transformer.wpe.weight", (c["max_position_embeddings"], H))]
        for l in range(L):
            pre = f"transformer.h.{l}."
            p += [(pre + "ln_1.weight", (H,)), (pre + "ln_1.bias", (H,)),
                  (pre + "attn.c_attn.weight", (H, 3 * H)), (pre + "attn.c_attn.bias", (3 * H,)),
                  (pre + "attn.c_proj.weight", (H, H)), (pre + "attn.c_proj.bias", (H,)),
                  (pre + "ln_2.weight", (H,)), (pre + "ln_2.bias", (H,)),
                  (pre + "mlp.c_fc.weight", (H, I)), (pre + "mlp.c_fc.bias", (I,)),
                  (pre + "mlp.c_proj.weight", (I, H)), (pre + "mlp.c_proj.bias", (H,))]
        return p + [("transformer.ln_f.weight", (H,)), ("transformer.ln_f.bias", (H,))]
    A = c["num_attention_heads"] * head_dim(c)
    K = c["num_key_value_heads"] * head_dim(c)
    p = [("model.embed_tokens.weight", (V, H))]
    for l in range(L):
        pre = f"model.layers.{l}."
        for n, rows in (("q_proj", A), ("k_proj", K), ("v_proj", K)):
            p += [(pre + f"self_attn.{n}.weight", (rows, H))]
            if c["qkv_bias"]:
                p += [(pre + f"self_attn.{n}.bias", (rows,))]
        p += [(pre + "self_attn.o_proj.weight", (H, A))]
        if c["o_bias"]:
            p += [(pre + "self_attn.o_proj.bias", (H,))]
        for n, shape in (("gate_proj", (I, H)), ("up_proj", (I, H)), ("down_proj", (H, I))):
            p += [(pre + f"mlp.{n}.weight", shape)]
            if c["mlp_bias"]:
                p += [(pre + f"mlp.{n}.bias", (shape[0],))]
        p += [(pre + "input_layernorm.weight", (H,)), (pre + "post_attention_layernorm.weight", (H,))]
    p += [("model.norm.weight", (H,))]
    if not c["tie_word_embeddings"]:
        p += [("lm_head.weight", (V, H))]
    return p


def is_norm_gain(c, name):
    if c["model_type"] == "gpt2":
        return ".ln_" in name and name.endswith(".weight")
    return "layernorm" in name or name == "model.norm.weight"


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def repeat_kv(x, n_rep):
    b, nkv, s, d = x.shape
    return x[:, :, None, :, :].expand(b, nkv, n_rep, s, d).reshape(b, nkv * n_rep, s, d)


def llama_forward(c, P, ids, mask):
    B, S = ids.shape
    H, nh, nkv, d = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    eps = c["rms_norm_eps"]

    def rms(x, w):
        return P[w] * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def lin(x, pre, bias):
        y = x @ P[pre + ".weight"].T
        return y + P[pre + ".bias"] if bias else y

    x = F.embedding(ids, P["model.embed_tokens.weight"], padding_idx=c.get("pad_token_id"))
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    freqs = torch.outer(torch.arange(S, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()  # (S, d), broadcast over batch and heads
    allowed = torch.ones(S, S, dtype=torch.bool).tril()[None, None] & mask[:, None, None, :].bool()
    bias = torch.zeros(B, 1, S, S).masked_fill(~allowed, torch.finfo(torch.float64).min)
    for l in range(c["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        u = rms(x, pre + "input_layernorm.weight")
        q = lin(u, pre + "self_attn.q_proj", c["qkv_bias"]).view(B, S, nh, d).transpose(1, 2)
        k = lin(u, pre + "self_attn.k_proj", c["qkv_bias"]).view(B, S, nkv, d).transpose(1, 2)
        v = lin(u, pre + "self_attn.v_proj", c["qkv_bias"]).view(B, S, nkv, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, nh // nkv), repeat_kv(v, nh // nkv)
        w = q @ k.transpose(2, 3) / math.sqrt(d) + bias
        ctx = (torch.softmax(w, dim=-1) @ v).transpose(1, 2).reshape(B, S, nh * d)
        x = x + lin(ctx, pre + "self_attn.o_proj", c["o_bias"])
        u = rms(x, pre + "post_attention_layernorm.weight")
        mb = c["mlp_bias"]
        x = x + lin(F.silu(lin(u, pre + "mlp.gate_proj", mb)) * lin(u, pre + "mlp.up_proj", mb), pre + "mlp.down_proj", mb)
    x = rms(x, "model.norm.weight")
    head = P["model.embed_tokens.weight"] if c["tie_word_embeddings"] else P["lm_head.weight"]
    return x @ head.T


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(c, P, ids, mask):
    B, S = ids.shape
    H, nh = c["hidden_size"], c["num_attention_heads"]
    d = H // nh
    eps = c["layer_norm_epsilon"]
    ln = lambda x, pre: F.layer_norm(x, (H,), P[pre + ".weight"], P[pre + ".bias"], eps)
    conv1d = lambda x, pre: x @ P[pre + ".weight"] + P[pre + ".bias"]  # Conv1D: weight stored (in, out)
    heads = lambda t: t.view(B, S, nh, d).transpose(1, 2)
    x = P["transformer.wte.weight"][ids] + P["transformer.wpe.weight"][torch.arange(S)][None]
    causal = torch.ones(S, S, dtype=torch.bool).tril()[None, None]
    fmin = torch.finfo(torch.float64).min
    ext = (1.0 - mask[:, None, None, :].to(torch.float64)) * fmin
    for l in range(c["num_hidden_layers"]):
        pre = f"transformer.h.{l}."
        q, k, v = conv1d(ln(x, pre + "ln_1"), pre + "attn.c_attn").split(H, dim=2)
        q, k, v = heads(q), heads(k), heads(v)
        w = q @ k.transpose(-1, -2) / math.sqrt(d)
        w = torch.where(causal, w, torch.tensor(fmin, dtype=w.dtype)) + ext
        ctx = (torch.softmax(w, dim=-1) @ v).transpose(1, 2).reshape(B, S, H)
        x = x + conv1d(ctx, pre + "attn.c_proj")
        x = x + conv1d(gelu_new(conv1d(ln(x, pre + "ln_2"), pre + "mlp.c_fc")), pre + "mlp.c_proj")
    x = ln(x, "transformer.ln_f")
    return x @ P["transformer.wte.weight"].T


def make(name, c, seed):
    torch.manual_seed(seed)
    B, S = 2, 7
    V = c["vocab_size"]
    ids = torch.randint(0, V, (B, S), dtype=torch.int64)
    if c.get("pad_token_id") is not None:
        ids[0, 3] = c["pad_token_id"]  # a pad token inside a sequence: padding_idx gets no lookup gradient
    mask = torch.ones(B, S, dtype=torch.int64)
    mask[1, S - 2:] = 0  # right padding
    labels = ids.clone()
    labels[mask == 0] = -100
    labels[0, 5] = -100  # one more unscored target

    order = decoder_parameters(c)
    P = {}
    for n, shape in order:
        base = 1.0 if is_norm_gain(c, n) else 0.0
        P[n] = (base + 0.4 * torch.randn(shape, dtype=torch.float64)).requires_grad_(True)
    params0 = {n: t.detach().clone() for n, t in P.items()}

    forward = gpt2_forward if c["model_type"] == "gpt2" else llama_forward
    logits = forward(c, P, ids, mask)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)
    loss.backward()
    grads = {n: t.grad.detach().clone() for n, t in P.items()}

    lr, wd, b1, b2, eps = 1e-2, 0.01, 0.9, 0.999, 1e-8
    total_norm = torch.sqrt(sum((g ** 2).sum() for g in grads.values())).item()
    max_norm = 0.5 * total_norm  # clipping is active
    names = [n for n, _ in order]
    shapes = dict(order)
    opt = torch.optim.AdamW([
        {"params": [P[n] for n in names if len(shapes[n]) > 1], "weight_decay": wd},
        {"params": [P[n] for n in names if len(shapes[n]) == 1], "weight_decay": 0.0}],
        lr=lr, betas=(b1, b2), eps=eps)
    torch.nn.utils.clip_grad_norm_([P[n] for n in names], max_norm)
    opt.step()

    out = {"input_ids": ids.to(torch.int32), "attention_mask": mask.to(torch.int32), "labels": labels.to(torch.int32),
           "logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for n in names:
        out["param." + n] = params0[n]
        out["grad." + n] = grads[n]
        out["adamw." + n] = P[n].detach().clone()
    meta = {"config": json.dumps(c), "lr": repr(lr), "weight_decay": repr(wd), "beta1": repr(b1),
            "beta2": repr(b2), "eps": repr(eps), "max_grad_norm": repr(max_norm),
            "generator": "tests/reference/golden/make_decoder_golden.py, torch " + torch.__version__}
    path = os.path.join(HERE, name + ".safetensors")
    write_safetensors(path, out, meta)
    print(path, os.path.getsize(path), "bytes, loss", loss.item(), "grad norm", total_norm)


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    # LLaMA family (HF LlamaConfig spelling): GQA with 4 query heads over 2 key/value heads of 4 channels,
    # q/k/v biases, untied head, a pad token with padding_idx.
    llama = {"model_type": "llama", "vocab_size": 19, "hidden_size": 16, "intermediate_size": 12,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 32, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
             "tie_word_embeddings": False, "qkv_bias": True, "o_bias": False, "mlp_bias": False,
             "pad_token_id": 0}
    # GPT-2 (field names as decoder_config's: hidden_size = n_embd, ...).
    gpt2 = {"model_type": "gpt2", "vocab_size": 19, "hidden_size": 8, "intermediate_size": 16,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2,
            "max_position_embeddings": 8, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True}
    cases = {"tiny_llama": (llama, 1357), "tiny_gpt2": (gpt2, 2468)}
    for name in sys.argv[1:] or list(cases):
        make(name, *cases[name])
