#!/usr/bin/env python3
"""Streaming growth under a memory limit: `growth grow` of a sharded checkpoint several times larger than the
address-space limit imposed on the process (prlimit --as), with its peak resident memory.

For each size it
  1. writes a random BERT checkpoint with `growth init --max-shard-size` (model shards), and optimizer shards
     beside it (exp_avg = the weights, exp_avg_sq = 0, step 5; written here because training a model of this
     size first would take minutes), so `grow --optimizer map` reads and writes three tensor sets;
  2. checks that the limit binds: `growth inspect` (which loads the whole checkpoint) must FAIL under it;
  3. runs `growth grow` (depth x2, sharded output) under the same limit and takes its peak resident memory
     (getrusage RUSAGE_CHILDREN ru_maxrss, i.e. the kernel's VmHWM of the child);
  4. checks the output with an unlimited `growth inspect` (strict load of every tensor and moment).
Prints one markdown row per size; exits non-zero when a check fails.

  scripts/grow_memory.py GROWTH_BINARY WORK_DIR [--limit-mb 96] [--sizes L:H:V ...] [--shard 50MB]
"""
import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import sys


def peak_of(cmd, limit_bytes=None):
    """Peak RSS (KiB) of one command, measured in a fresh python child so earlier children do not mask it."""
    code = ("import resource, subprocess, sys, json\n"
            "p = subprocess.run(json.loads(sys.argv[1]), capture_output=True, text=True)\n"
            "print(json.dumps([p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.stdout, p.stderr]))\n")
    if limit_bytes is not None:
        cmd = ["prlimit", f"--as={limit_bytes}", "--"] + cmd
    out = subprocess.run([sys.executable, "-c", code, json.dumps(cmd)], capture_output=True, text=True, check=True)
    rc, kib, so, se = json.loads(out.stdout)
    return rc, kib, so, se


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)), 8 + n


def write_optimizer_shards(ckpt):
    """optimizer-k-of-n.safetensors beside each model shard: <t>.exp_avg (the weights) and <t>.exp_avg_sq (0)."""
    index_path = os.path.join(ckpt, "model.safetensors.index.json")
    if os.path.exists(index_path):
        files = sorted(set(json.load(open(index_path))["weight_map"].values()))
    else:  # the model fits in one file: so does the optimizer state (one file, no index)
        files = ["model.safetensors"]
    n = len(files)
    weight_map, total = {}, 0
    for k, f in enumerate(files, 1):
        header, start = read_header(os.path.join(ckpt, f))
        tensors = [(t, v) for t, v in header.items() if t != "__metadata__"]
        tensors.sort(key=lambda tv: tv[1]["data_offsets"][0])
        out_name = f"optimizer-{k:05d}-of-{n:05d}.safetensors" if n > 1 else "optimizer.safetensors"
        h, off = {"__metadata__": {"format": "pt", "step": "5"}}, 0
        for t, v in tensors:
            size = v["data_offsets"][1] - v["data_offsets"][0]
            for suffix in (".exp_avg", ".exp_avg_sq"):
                h[t + suffix] = {"dtype": v["dtype"], "shape": v["shape"], "data_offsets": [off, off + size]}
                weight_map[t + suffix] = out_name
                off += size
                total += size
        hb = json.dumps(h, separators=(",", ":")).encode()
        hb += b" " * ((8 - len(hb) % 8) % 8)
        with open(os.path.join(ckpt, f), "rb") as src, open(os.path.join(ckpt, out_name), "wb") as dst:
            dst.write(struct.pack("<Q", len(hb)) + hb)
            for t, v in tensors:
                b, e = v["data_offsets"]
                src.seek(start + b)
                dst.write(src.read(e - b))
                dst.write(bytes(e - b))
    if n == 1:
        return
    with open(os.path.join(ckpt, "optimizer.safetensors.index.json"), "w") as f:
        f.write(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2, sort_keys=True) + "\n")


def folder_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".safetensors"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("growth")
    ap.add_argument("work")
    ap.add_argument("--limit-mb", type=int, default=96)
    ap.add_argument("--sizes", nargs="+", default=["6:512:4096"], help="layers:hidden:vocab of each source model")
    ap.add_argument("--shard", default="50MB")
    a = ap.parse_args()
    limit = a.limit_mb * 2**20
    os.makedirs(a.work, exist_ok=True)
    text = os.path.join(a.work, "text.txt")
    src_text = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "kjv.txt")
    with open(src_text, "rb") as f, open(text, "wb") as g:
        g.write(f.read(400_000))
    failed = False
    print("| source L-H-V | source ckpt (model + optimizer) | grown ckpt (L x 2) | limit (--as) | peak RSS of grow "
          "| source ckpt / peak | peak RSS of a full load (inspect, no limit) |")
    print("|---|---|---|---|---|---|---|")
    for spec in a.sizes:
        L, H, V = (int(x) for x in spec.split(":"))
        cfg = {"vocab_size": V, "hidden_size": H, "num_hidden_layers": L, "num_attention_heads": max(1, H // 64),
               "intermediate_size": 4 * H, "max_position_embeddings": 512}
        d = os.path.join(a.work, f"L{L}-H{H}-V{V}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
        json.dump({"num_hidden_layers": 2 * L}, open(os.path.join(d, "to.json"), "w"))
        src, out = os.path.join(d, "src"), os.path.join(d, "grown")
        p = subprocess.run([a.growth, "init", "--config", os.path.join(d, "config.json"), "--out", src, "--text", text,
                            "--max-shard-size", a.shard], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"init failed: {p.stderr}")
        write_optimizer_shards(src)
        # The limit binds: loading the whole checkpoint does not fit under it.
        rc, _, _, se = peak_of([a.growth, "inspect", "--model", src], limit)
        if rc == 0:
            print(f"FAILED: growth inspect of {src} fits under {a.limit_mb} MiB: the limit does not bind", file=sys.stderr)
            failed = True
        rc, kib, so, se = peak_of([a.growth, "grow", "--model", src, "--out", out, "--to", os.path.join(d, "to.json"),
                                   "--optimizer", "map", "--max-shard-size", a.shard], limit)
        if rc != 0:
            print(f"FAILED: growth grow under --as={a.limit_mb} MiB: rc {rc}\n{so}{se}", file=sys.stderr)
            failed = True
            continue
        rc, full_kib, so, se = peak_of([a.growth, "inspect", "--model", out])
        if rc != 0 or "optimizer.safetensors: present (valid, step 5)" not in so:
            print(f"FAILED: the grown checkpoint does not load: {so[-500:]}{se}", file=sys.stderr)
            failed = True
        sb, ob = folder_bytes(src), folder_bytes(out)
        print(f"| {L}-{H}-{V} | {sb / 1e6:.0f} MB | {ob / 1e6:.0f} MB | {a.limit_mb} MiB | {kib / 1024:.1f} MiB | "
              f"{sb / (kib * 1024):.1f}x | {full_kib / 1024:.0f} MiB |", flush=True)
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
