#!/usr/bin/env python3
"""Writes a synthetic OLMoE-shaped routing trace as NPY arrays (docs/trace-format.md).

Used by bench/llm-stats.sh to measure `switchyard analyze` at language-model scale
(docs/performance.md). Needs numpy only. The arrays are written in chunks through
memory maps, so a 10M-token trace with probabilities (2.6 GB on disk) needs little memory.

Routing: per layer, logits = expert bias + a token id's own preference + noise; the router's
softmax over E goes to probs.npy, its top-k (largest first) to experts.npy and the softmax
values there to weights.npy (OLMoE: not renormalised). Token ids are Zipf(1.2) over the
vocabulary; sequences of --sequence-length tokens are the routing groups. With --domains K each
sequence gets one of K domains (domains.npy), each of which adds 0.5 to the logits of 4 experts.
"""
import argparse
import json
import os

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="directory to create")
    p.add_argument("--tokens", type=int, default=1_000_000)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--experts", type=int, default=64)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--vocabulary", type=int, default=50_000)
    p.add_argument("--sequence-length", type=int, default=2048)
    p.add_argument("--no-probs", action="store_true", help="leave out probs.npy")
    p.add_argument("--domains", type=int, default=0,
                   help="also write domains.npy: each sequence's domain, of this many, each boosting its own experts")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    n, L, E, k = a.tokens, a.layers, a.experts, a.k
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)

    def array(name, shape, dtype):
        return np.lib.format.open_memmap(os.path.join(a.out, name), mode="w+", dtype=dtype, shape=shape)

    ranks = np.arange(1, a.vocabulary + 1, dtype=np.float64)
    zipf = ranks ** -1.2
    zipf /= zipf.sum()
    labels = array("labels.npy", (n,), np.int32)
    positions = array("positions.npy", (n,), np.int32)
    groups = array("groups.npy", (n,), np.int32)
    experts = array("experts.npy", (L, n, k), np.int32)
    weights = array("weights.npy", (L, n, k), np.float32)
    probs = None if a.no_probs else array("probs.npy", (L, n, E), np.float32)
    domains = array("domains.npy", (n,), np.int32) if a.domains else None
    sequence_domain = rng.integers(0, max(1, a.domains), size=n // a.sequence_length + 1)
    domain_experts = rng.integers(0, E, size=(max(1, a.domains), 4))
    bias = rng.normal(0, 0.5, size=(L, E)).astype(np.float32)
    # A token id's preference: a few hashed experts get a boost.
    preference_seed = rng.integers(0, 2**31)
    chunk = 1 << 18
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        t = np.arange(start, stop)
        ids = rng.choice(a.vocabulary, size=stop - start, p=zipf).astype(np.int32)
        labels[start:stop] = ids
        positions[start:stop] = t % a.sequence_length
        groups[start:stop] = t // a.sequence_length
        if domains is not None:
            domains[start:stop] = sequence_domain[t // a.sequence_length]
        for layer in range(L):
            logits = rng.normal(0, 1, size=(stop - start, E)).astype(np.float32) + bias[layer]
            favourite = (ids.astype(np.int64) * 2654435761 + preference_seed + layer * 40503) % E
            logits[np.arange(stop - start), favourite] += 2.0
            if domains is not None:
                rows = np.arange(stop - start)[:, None]
                logits[rows, domain_experts[sequence_domain[t // a.sequence_length]]] += 0.5
            logits -= logits.max(axis=1, keepdims=True)
            soft = np.exp(logits)
            soft /= soft.sum(axis=1, keepdims=True)
            top = np.argsort(-soft, axis=1, kind="stable")[:, :k]
            experts[layer, start:stop] = top
            weights[layer, start:stop] = np.take_along_axis(soft, top, axis=1)
            if probs is not None:
                probs[layer, start:stop] = soft
    for m in (labels, positions, groups, experts, weights, probs, domains):
        if m is not None:
            m.flush()
    meta = {
        "format": "switchyard-hf-routing-export/1",
        "model": "synthetic OLMoE-shaped trace (bench/make_llm_trace.py)",
        "blocks": list(range(L)),
        "experts": E,
        "k": k,
        "tokens": n,
        "labels": "token ids",
        "groups": "sequence index",
    }
    if a.domains:
        meta["domain_names"] = [f"domain {d}" for d in range(a.domains)]
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
