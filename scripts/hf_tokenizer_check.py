#!/usr/bin/env python3
"""Checks growth's WordPiece tokenisation against Hugging Face BertTokenizer.

Usage: hf_tokenizer_check.py VOCAB_TXT DUMP.safetensors CORPUS.txt

The dump is what `growth eval --dump` writes: its first sequences are [CLS] + consecutive corpus tokens +
[SEP] (the corpus tokenised line by line and concatenated). The original ids are input_ids where labels
== -100 and labels elsewhere. This script tokenises the corpus with transformers.BertTokenizer on the same
vocab.txt and compares token by token. Needs transformers (not in Debian); run where it is installed.
"""
import json
import struct
import sys

import torch
from transformers import BertTokenizer


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = {"I64": torch.int64, "F32": torch.float32, "I32": torch.int32}[info["dtype"]]
        out[name] = torch.frombuffer(bytearray(data[b:e]), dtype=dt).reshape(info["shape"])
    return out


def main():
    vocab, dump, corpus = sys.argv[1:4]
    d = read_safetensors(dump)
    ids, labels, mask = d["input_ids"], d["labels"], d["attention_mask"]
    orig = torch.where(labels == -100, ids, labels)
    ours = []
    for row, m in zip(orig, mask):
        toks = row[m.bool()].tolist()
        ours.extend(toks[1:-1])  # drop [CLS] ... [SEP]
    tok = BertTokenizer(vocab, do_lower_case=True)
    theirs = []
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            theirs.extend(tok.convert_tokens_to_ids(tok.tokenize(line)))
            if len(theirs) >= len(ours):
                break
    theirs = theirs[: len(ours)]
    mism = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    print(f"tokenizer: compared {len(ours)} tokens with transformers BertTokenizer: {len(mism)} mismatches")
    if mism:
        i = mism[0]
        print("first mismatch at", i, tok.convert_ids_to_tokens(ours[max(0, i - 3): i + 4]),
              tok.convert_ids_to_tokens(theirs[max(0, i - 3): i + 4]))
    # A few strings exercising the basic tokenizer's rules.
    samples = ["Hello, World!", "Héllo naïve café", "unaffable", "don't stop-believing...", "中文字符 mixed"]
    for s in samples:
        print(f"  {s!r} -> {tok.tokenize(s)}")
    sys.exit(1 if mism else 0)


if __name__ == "__main__":
    main()
