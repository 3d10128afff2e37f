"""Writes the committed LLM routing fixtures, Tests/Fixtures/llm/<family>/ (`make llm-fixtures`).

Four tiny randomly initialised Hugging Face models (fixed seeds, CPU, seconds), each run on
padded batches of token sequences through exporters/hf_routing_export.py; then `expected.json`
beside each trace: numbers recomputed with numpy from the written .npy files alone (not from
the exporter's tensors), which Tests/SwitchyardTracesTests/LLMFixtureTests.swift pins against
`switchyard analyze`. Needs torch and transformers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_routing_export import export_routing, write_trace  # noqa: E402

VOCAB = 512
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "llm")


def tiny_model(family, seed):
    """A tiny random model of `family` (hidden 32, 2–4 blocks, 8–16 experts)."""
    import transformers as tf
    torch.manual_seed(seed)
    common = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.2,
                  pad_token_id=0, bos_token_id=1, eos_token_id=2, attn_implementation="eager")
    if family == "mixtral":
        config = tf.MixtralConfig(num_hidden_layers=3, num_local_experts=8, num_experts_per_tok=2, **common)
        model = tf.MixtralForCausalLM(config)
    elif family == "qwen2_moe":
        # MoE in every second block (blocks 1 and 3), a sigmoid-gated shared expert, top-4 of 8 unnormalised.
        config = tf.Qwen2MoeConfig(num_hidden_layers=4, num_experts=8, num_experts_per_tok=4, decoder_sparse_step=2,
                                   moe_intermediate_size=16, shared_expert_intermediate_size=32,
                                   norm_topk_prob=False, **common)
        model = tf.Qwen2MoeForCausalLM(config)
    elif family == "olmoe":
        config = tf.OlmoeConfig(num_hidden_layers=2, num_experts=16, num_experts_per_tok=4, norm_topk_prob=False,
                                **common)
        model = tf.OlmoeForCausalLM(config)
    elif family == "deepseek_v3":
        # Block 0 dense, blocks 1–2 MoE: sigmoid + bias, 4 groups of 2 experts, 2 groups kept, top-2, one shared expert.
        config = tf.DeepseekV3Config(num_hidden_layers=3, first_k_dense_replace=1, n_routed_experts=8,
                                     num_experts_per_tok=2, n_group=4, topk_group=2, n_shared_experts=1,
                                     moe_intermediate_size=16, routed_scaling_factor=2.5, norm_topk_prob=True,
                                     q_lora_rank=None, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8,
                                     v_head_dim=8, **{**common, "num_key_value_heads": 4})
        model = tf.DeepseekV3ForCausalLM(config)
        g = torch.Generator().manual_seed(seed + 1)
        for layer in model.model.layers[1:]:
            # A trained model's balancing bias; large enough to change some selections.
            layer.mlp.gate.e_score_correction_bias.copy_(0.1 * torch.randn(8, generator=g))
            layer.mlp.gate.weight.data.normal_(0, 0.2, generator=g)
    elif family == "qwen3_moe":   # the exporter's test only: top-2 of 8, renormalised
        config = tf.Qwen3MoeConfig(num_hidden_layers=2, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=16,
                                   norm_topk_prob=True, head_dim=8, **common)
        model = tf.Qwen3MoeForCausalLM(config)
    elif family == "deepseek_v2":  # the exporter's test only: softmax, group-limited greedy top-2
        config = tf.DeepseekV2Config(num_hidden_layers=2, first_k_dense_replace=1, n_routed_experts=8,
                                     num_experts_per_tok=2, n_group=4, topk_group=2, topk_method="group_limited_greedy",
                                     n_shared_experts=1, moe_intermediate_size=16, routed_scaling_factor=1.5,
                                     q_lora_rank=None, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8,
                                     v_head_dim=8, **{**common, "num_key_value_heads": 4})
        model = tf.DeepseekV2ForCausalLM(config)
        g = torch.Generator().manual_seed(seed + 1)
        for layer in model.model.layers[1:]:
            layer.mlp.gate.weight.data.normal_(0, 0.2, generator=g)
    else:
        raise ValueError(family)
    return model.eval()


FAMILIES = ["mixtral", "qwen2_moe", "olmoe", "deepseek_v3"]


def token_batches(seed, sequences=64, shortest=12, longest=62):
    """Zipf-distributed token ids (1..VOCAB−1; 0 is the pad id), sequences of random length,
    right-padded to the longest (62: the largest position 61 is not a square, see the test)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(shortest, longest + 1, size=sequences)
    lengths[0] = longest
    ids = np.zeros((sequences, longest), dtype=np.int64)
    mask = np.zeros_like(ids)
    for s, n in enumerate(lengths):
        ids[s, :n] = np.minimum(rng.zipf(1.3, size=n), VOCAB - 1)
        mask[s, :n] = 1
    return ids, mask


def expected_numbers(folder):
    """Numbers recomputed from the .npy files of `folder` with numpy (definitions: the
    docstrings of LoadStatistics, NeighbourAgreement and CoActivation, docs/statistics.md)."""
    experts = np.load(os.path.join(folder, "experts.npy"))
    weights = np.load(os.path.join(folder, "weights.npy"))
    groups = np.load(os.path.join(folder, "groups.npy"))
    positions = np.load(os.path.join(folder, "positions.npy"))
    probs_file = os.path.join(folder, "probs.npy")
    probs = np.load(probs_file) if os.path.exists(probs_file) else None
    layers, n, k = experts.shape
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    e = meta["experts"]
    out = {"tokens": int(n), "experts": int(e), "k": int(k), "blocks": meta["blocks"],
           "sequences": int(len(np.unique(groups))), "layers": []}
    same_sequence = groups[1:] == groups[:-1]
    for l in range(layers):
        x = experts[l]
        counts = np.bincount(x[x >= 0], minlength=e)
        # The first expert as the importer defines it: the first maximum of probs.npy (its
        # preferredExpert) when the trace has one, else the expert of the largest weight.
        top1 = probs[l].argmax(axis=1) if probs is not None else x[np.arange(n), weights[l].argmax(axis=1)]
        chosen = (x == top1[:, None]).any(axis=1)

        def agreement(pairs):
            a, b = top1[:-1][pairs], top1[1:][pairs]
            members = np.zeros(n, dtype=bool)
            members[:-1] |= pairs
            members[1:] |= pairs
            f = np.bincount(top1[members], minlength=e) / members.sum()
            return {"pairs": int(pairs.sum()), "agreement": float((a == b).mean()), "chance": float((f ** 2).sum())}

        # Coact(i, j) = N_ij / N_i over its baseline (k − 1)/(E − 1) (every token has k experts).
        onehot = np.zeros((n, e))
        onehot[np.repeat(np.arange(n), k), x.ravel()] = 1
        pair_counts = onehot.T @ onehot
        takes = np.diag(pair_counts).copy()
        np.fill_diagonal(pair_counts, 0)
        ratio = pair_counts / np.maximum(takes, 1)[:, None] / ((k - 1) / (e - 1))
        off = ~np.eye(e, dtype=bool) & (takes >= 10)[:, None]
        out["layers"].append({
            "block": meta["blocks"][l],
            "counts": counts.tolist(),
            "cv": float(counts.std() / counts.mean()),
            "mean_experts_per_token": float((x >= 0).sum(1).mean()),
            # Tokens whose first expert is not among their experts (the importer's "dropped"): 0.
            "dropped": int((~chosen).sum()),
            # Neighbours: consecutive tokens of one sequence (the language-model reading) ...
            "neighbours_in_sequence": agreement(same_sequence),
            # ... and the same without the pairs that start at position 0 (the image rule that
            # takes position 0 for a class token).
            "neighbours_without_position_0": agreement(same_sequence & (positions[:-1] != 0)),
            "coactivation_max_ratio": float(ratio[off].max()),
            "coactivation_min_ratio": float(ratio[off].min()),
        })
    return out


def make(family, root, seed):
    model = tiny_model(family, seed)
    ids, mask = token_batches(seed)
    arrays, meta = export_routing(model, ids, mask, batch_size=16)
    meta["model"] = f"tiny random {type(model).__name__} (exporters/make_fixtures.py, seed {seed})"
    folder = os.path.join(root, family)
    write_trace(arrays, meta, folder, overwrite=True)
    expected = expected_numbers(folder)
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(folder, x)) for x in os.listdir(folder))
    print(f"{folder}: {meta['tokens']} tokens, {meta['pad_tokens_left_out']} pads left out, "
          f"blocks {meta['blocks']}, {size / 1024:.0f} KiB")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=ROOT)
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("families", nargs="*", default=FAMILIES)
    args = p.parse_args(argv)
    torch.use_deterministic_algorithms(True)
    for family in args.families:
        make(family, os.path.abspath(args.out), args.seed)


if __name__ == "__main__":
    main()
