"""Tests of exporters/hf_routing_export.py on tiny random Hugging Face models.

Run: `make test-exporter`, `python exporters/test_hf_routing_export.py` or
`python -m pytest exporters/`. Without torch or transformers every test is skipped with the
reason printed; Switchyard's own tests never need them.

What the exporter writes is checked against two independent sources per family: the indices and
weights the model's experts module is actually called with (a forward pre-hook on `mlp.experts`,
so the combine the model does), and the family's formula applied here in numpy (float64) to
router logits computed from the MoE block's input and the router's weight.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
    import torch
    import transformers  # noqa: F401
    MISSING = None
except ImportError as e:
    MISSING = f"numpy, torch and transformers are needed for the exporter's tests ({e}); " \
              "install them, e.g. pip install numpy torch transformers"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if MISSING is None:
    import hf_routing_export as hx
    from make_fixtures import FAMILIES, tiny_model


def numpy_routing(family, logits, gate, config):
    """(experts, weights) of each token by the documented formula (docs/llm-traces.md), numpy."""
    z = logits.astype(np.float64)
    k = config.num_experts_per_tok
    if family == "deepseek_v3":
        s = 1 / (1 + np.exp(-z))
        b = s + gate.e_score_correction_bias.detach().double().numpy()
        n, e = b.shape
        g = config.n_group
        grouped = np.sort(b.reshape(n, g, e // g), axis=-1)[..., -2:].sum(-1)
        kept_groups = np.argsort(-grouped, axis=1, kind="stable")[:, :config.topk_group]
        allowed = np.zeros((n, g), dtype=bool)
        np.put_along_axis(allowed, kept_groups, True, axis=1)
        b = np.where(np.repeat(allowed, e // g, axis=1), b, -np.inf)
        experts = np.argsort(-b, axis=1, kind="stable")[:, :k]
        w = np.take_along_axis(s, experts, 1)
        w = w / w.sum(1, keepdims=True) * config.routed_scaling_factor
        return experts, w
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    if family == "deepseek_v2":
        n, e = p.shape
        g = config.n_group
        kept_groups = np.argsort(-p.reshape(n, g, e // g).max(-1), axis=1, kind="stable")[:, :config.topk_group]
        allowed = np.zeros((n, g), dtype=bool)
        np.put_along_axis(allowed, kept_groups, True, axis=1)
        masked = np.where(np.repeat(allowed, e // g, axis=1), p, 0)
        experts = np.argsort(-masked, axis=1, kind="stable")[:, :k]
        return experts, np.take_along_axis(p, experts, 1) * config.routed_scaling_factor
    experts = np.argsort(-p, axis=1, kind="stable")[:, :k]
    w = np.take_along_axis(p, experts, 1)
    if family == "mixtral" or config.norm_topk_prob:
        w = w / w.sum(1, keepdims=True)
    return experts, w


def by_expert(experts, weights):
    """Each row's slots sorted by expert id, so that slot orders do not matter."""
    order = np.argsort(experts, axis=-1)
    return np.take_along_axis(experts, order, -1), np.take_along_axis(weights, order, -1)


class Capture:
    """What each MoE block's experts module is called with, and the block's input."""

    def __init__(self, model):
        self.calls, self.inputs, self.handles = {}, {}, []
        for number, block in hx.moe_blocks(model):
            self.handles.append(block.experts.register_forward_pre_hook(self.experts_hook(number), with_kwargs=True))
            self.handles.append(block.register_forward_pre_hook(self.block_hook(number)))

    def experts_hook(self, number):
        def hook(module, args, kwargs):
            values = list(args) + list(kwargs.values())
            self.calls.setdefault(number, []).append((values[1].detach().clone(), values[2].detach().float().clone()))
        return hook

    def block_hook(self, number):
        def hook(module, args):
            self.inputs.setdefault(number, []).append(args[0].detach().clone())
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def padded_batch(seed, sequences=12, longest=20, left=False):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, longest + 1, size=sequences)
    ids = np.zeros((sequences, longest), dtype=np.int64)
    mask = np.zeros_like(ids)
    for s, n in enumerate(lengths):
        span = slice(longest - n, longest) if left else slice(0, n)
        ids[s, span] = rng.integers(1, 512, size=n)
        mask[s, span] = 1
    return ids, mask


@unittest.skipIf(MISSING is not None, MISSING or "")
class ExporterTests(unittest.TestCase):
    def check_family(self, family, dtype=None, left=False):
        dtype = dtype or torch.float32
        model = tiny_model(family, seed=5).to(dtype)
        ids, mask = padded_batch(7, left=left)
        capture = Capture(model)
        try:
            arrays, meta = hx.export_routing(model, ids, mask, batch_size=5)
        finally:
            capture.remove()
        blocks = [b for b, _ in hx.moe_blocks(model)]
        self.assertEqual(meta["blocks"], blocks)
        n = int(mask.sum())
        # Pads are absent: one row per real token, in order, with its id, position and sequence.
        self.assertEqual(arrays["experts"].shape[:2], (len(blocks), n))
        self.assertEqual(meta["pad_tokens_left_out"], int((mask == 0).sum()))
        np.testing.assert_array_equal(arrays["labels"], ids[mask == 1])
        np.testing.assert_array_equal(arrays["groups"], np.nonzero(mask)[0])
        np.testing.assert_array_equal(arrays["positions"], np.concatenate([np.arange(m) for m in mask.sum(1)]))
        self.assertTrue((arrays["experts"] >= 0).all(), "no empty slot: pads are left out, not marked −1")
        self.assertEqual(arrays["weights"].dtype, np.float32)
        keep = torch.as_tensor(mask.reshape(-1) == 1)
        for l, b in enumerate(blocks):
            # 1. What the model combined with (experts module's arguments), pads removed.
            idx = torch.cat([c[0].reshape(-1, c[0].shape[-1]) for c in capture.calls[b]])[keep].numpy()
            w = torch.cat([c[1].reshape(-1, c[1].shape[-1]) for c in capture.calls[b]])[keep].numpy()
            got_e, got_w = by_expert(arrays["experts"][l], arrays["weights"][l])
            want_e, want_w = by_expert(idx, w)
            np.testing.assert_array_equal(got_e, want_e, err_msg=f"{family} block {b}: experts")
            np.testing.assert_array_equal(got_w, want_w.astype(np.float32), err_msg=f"{family} block {b}: weights")
            # Slots by weight, largest first.
            self.assertTrue((np.diff(arrays["weights"][l], axis=1) <= 0).all())
            # 2. The family's formula in numpy, on logits from the block's input (float32 models only:
            # a bf16 model's rounding of the logits is its own).
            if dtype == torch.float32:
                gate = dict(hx.moe_blocks(model))[b].gate
                h = torch.cat([x.reshape(-1, x.shape[-1]) for x in capture.inputs[b]])[keep]
                logits = (h.float() @ gate.weight.detach().float().T).numpy()
                ne, nw = by_expert(*numpy_routing(family, logits, gate, model.config))
                np.testing.assert_array_equal(got_e, ne, err_msg=f"{family} block {b}: formula experts")
                np.testing.assert_allclose(got_w, nw, rtol=2e-5, atol=1e-6, err_msg=f"{family} block {b}: formula weights")
                dist = arrays["probs" if "probs" in arrays else "router_scores"][l]
                np.testing.assert_allclose(dist.sum(1), 1, atol=1e-5)
                if family == "qwen2_moe":
                    block = dict(hx.moe_blocks(model))[b]
                    shared = torch.sigmoid(block.shared_expert_gate(h)).reshape(-1).detach().numpy()
                    np.testing.assert_allclose(arrays["shared_gate"][l], shared, rtol=1e-5)
        return arrays, meta

    def test_mixtral(self):
        arrays, meta = self.check_family("mixtral")
        np.testing.assert_allclose(arrays["weights"].sum(-1), 1, atol=1e-6)   # renormalised over the k
        self.assertTrue(meta["renormalised_over_k"])

    def test_qwen2_moe_keeps_block_numbers_and_the_shared_gate(self):
        arrays, meta = self.check_family("qwen2_moe")
        self.assertEqual(meta["blocks"], [1, 3])
        self.assertEqual(arrays["shared_gate"].shape, arrays["experts"].shape[:2])
        self.assertLess(arrays["weights"].sum(-1).max(), 1)                     # not renormalised

    def test_olmoe(self):
        arrays, meta = self.check_family("olmoe")
        self.assertFalse(meta["renormalised_over_k"])

    def test_deepseek_v3_selects_by_bias_and_groups(self):
        arrays, meta = self.check_family("deepseek_v3")
        self.assertEqual(meta["blocks"], [1, 2])
        self.assertNotIn("probs", arrays, "a bias-steered router's distribution must not read as drops")
        top = arrays["router_scores"].argmax(-1)
        skipped = (arrays["experts"] != top[..., None]).all(-1).mean()
        self.assertGreater(skipped, 0, "the fixture's bias changes some selections")
        np.testing.assert_allclose(arrays["weights"].sum(-1), 2.5, rtol=1e-5)  # renormalised × scaling

    def test_qwen3_moe_renormalised(self):
        arrays, meta = self.check_family("qwen3_moe")
        self.assertTrue(meta["renormalised_over_k"])
        np.testing.assert_allclose(arrays["weights"].sum(-1), 1, atol=1e-6)

    def test_deepseek_v2_group_limited(self):
        arrays, meta = self.check_family("deepseek_v2")
        self.assertEqual(meta["blocks"], [1])
        self.assertIn("router_scores", arrays)

    def test_the_fallback_formula_agrees_with_each_router(self):
        # Routers that return only logits (transformers 4) get route_from_logits.
        for family in FAMILIES + ["qwen3_moe", "deepseek_v2"]:
            model = tiny_model(family, seed=5)
            for number, block in hx.moe_blocks(model):
                h = torch.randn(64, model.config.hidden_size, generator=torch.Generator().manual_seed(number))
                with torch.no_grad():
                    logits, weights, experts = block.gate(h)
                    w, e = hx.route_from_logits(logits, block.gate, model.config)
                got = by_expert(e.numpy(), w.numpy())
                want = by_expert(experts.numpy(), weights.float().numpy())
                with self.subTest(family=family, block=number):
                    np.testing.assert_array_equal(got[0], want[0])
                    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)

    def test_token_ids_above_65535_are_labels(self):
        # Labels are int32: a 70,000-token vocabulary's ids go to labels.npy like any other.
        model = tiny_model("olmoe", seed=5)
        model.resize_token_embeddings(70000)
        ids, mask = padded_batch(13, sequences=3)
        ids[0, 0] = 69999
        arrays, meta = hx.export_routing(model, ids, mask)
        self.assertNotIn("token_ids", arrays)
        self.assertEqual(arrays["labels"].dtype, np.int32)
        np.testing.assert_array_equal(arrays["labels"], ids[mask == 1])
        self.assertEqual(meta["labels"], "token ids")

    def test_bad_inputs_are_refused_by_name(self):
        model = tiny_model("mixtral", seed=5)
        ids, mask = padded_batch(17, sequences=3)
        cases = [(np.where(mask == 1, 512, ids), mask, "outside 0..511"),
                 (ids, mask * 2, "values other than 0 and 1"),
                 (ids, np.concatenate([mask[:2], 0 * mask[2:]]), "sequence 2 has no token"),
                 (ids[:, :-1], mask, "expected two arrays of the same shape")]
        for bad_ids, bad_mask, message in cases:
            with self.subTest(message=message):
                with self.assertRaises(hx.ExportError) as caught:
                    hx.export_routing(model, bad_ids, bad_mask)
                self.assertIn(message, str(caught.exception))

    def test_left_padding_gives_the_same_positions(self):
        self.check_family("mixtral", left=True)

    def test_bf16_and_fp16_models(self):
        for dtype in (torch.bfloat16, torch.float16):
            for family in FAMILIES:
                with self.subTest(family=family, dtype=dtype):
                    arrays, meta = self.check_family(family, dtype=dtype)
                    self.assertEqual(arrays["weights"].dtype, np.float32)
                    self.assertEqual(meta["dtype"], str(dtype).replace("torch.", ""))

    def test_cli_writes_a_trace_and_refuses_pads_without_a_mask(self):
        model = tiny_model("mixtral", seed=5)
        ids, mask = padded_batch(3)
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(os.path.join(tmp, "model"))
            np.save(os.path.join(tmp, "ids.npy"), ids)
            np.save(os.path.join(tmp, "mask.npy"), mask)
            out = os.path.join(tmp, "trace")
            args = ["--model", os.path.join(tmp, "model"), "--token-ids", os.path.join(tmp, "ids.npy")]
            self.assertEqual(hx.main(args + ["--out", out]), 1, "pad id 0 in the ids without a mask")
            self.assertFalse(os.path.exists(out))
            self.assertEqual(hx.main(args + ["--attention-mask", os.path.join(tmp, "mask.npy"), "--out", out]), 0)
            self.assertEqual(np.load(os.path.join(out, "experts.npy")).shape, (3, int(mask.sum()), 2))
            with open(os.path.join(out, "meta.json")) as f:
                self.assertEqual(json.load(f)["blocks"], [0, 1, 2])
            self.assertEqual(hx.main(args + ["--pad-id", "0", "--out", out]), 1, "exists, no --overwrite")
            self.assertEqual(hx.main(args + ["--pad-id", "0", "--out", out, "--overwrite"]), 0)
            self.assertEqual(sorted(x for x in os.listdir(tmp) if x.startswith(".export-")), [])

    def test_cli_writes_each_sequences_domain(self):
        model = tiny_model("olmoe", seed=5)
        ids, mask = padded_batch(3, sequences=3)
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(os.path.join(tmp, "model"))
            np.save(os.path.join(tmp, "ids.npy"), ids)
            np.save(os.path.join(tmp, "mask.npy"), mask)
            with open(os.path.join(tmp, "domains.txt"), "w") as f:
                f.write("code\nprose\ncode\n")
            args = ["--model", os.path.join(tmp, "model"), "--token-ids", os.path.join(tmp, "ids.npy"),
                    "--attention-mask", os.path.join(tmp, "mask.npy"), "--domains", os.path.join(tmp, "domains.txt")]
            out = os.path.join(tmp, "trace")
            self.assertEqual(hx.main(args + ["--out", out]), 0)
            groups = np.load(os.path.join(out, "groups.npy"))
            np.testing.assert_array_equal(np.load(os.path.join(out, "domains.npy")), np.array([0, 1, 0])[groups])
            with open(os.path.join(out, "meta.json")) as f:
                self.assertEqual(json.load(f)["domain_names"], ["code", "prose"])
            with open(os.path.join(tmp, "domains.txt"), "w") as f:
                f.write("code\nprose\n")
            self.assertEqual(hx.main(args + ["--out", os.path.join(tmp, "other")]), 1, "2 names for 3 sequences")
            self.assertFalse(os.path.exists(os.path.join(tmp, "other")))


    def test_text_input_is_tokenised_and_padded_with_the_tokenizer(self):
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast
        words = ["<pad>", "<s>", "</s>", "<unk>"] + [f"w{i}" for i in range(100)]
        core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
        core.pre_tokenizer = pre_tokenizers.Whitespace()
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>",
                                            unk_token="<unk>")
        with tempfile.TemporaryDirectory() as tmp:
            tiny_model("olmoe", seed=5).save_pretrained(os.path.join(tmp, "model"))
            tokenizer.save_pretrained(os.path.join(tmp, "tokenizer"))
            with open(os.path.join(tmp, "text.txt"), "w") as f:
                f.write("w1 w2 w3 w4\n\nw5 w6\nw7 unknown w8 w9 w10\n")
            out = os.path.join(tmp, "trace")
            self.assertEqual(hx.main(["--model", os.path.join(tmp, "model"), "--text", os.path.join(tmp, "text.txt"),
                                      "--tokenizer", os.path.join(tmp, "tokenizer"), "--max-length", "4",
                                      "--out", out]), 0)
            labels = np.load(os.path.join(out, "labels.npy"))
            # Empty lines skipped, the third line cut to 4 tokens, pads (id 0) left out.
            np.testing.assert_array_equal(labels, [5, 6, 7, 8, 9, 10, 11, 3, 12, 13])
            np.testing.assert_array_equal(np.load(os.path.join(out, "groups.npy")), [0] * 4 + [1] * 2 + [2] * 4)
            np.testing.assert_array_equal(np.load(os.path.join(out, "positions.npy")), [0, 1, 2, 3, 0, 1, 0, 1, 2, 3])

    def test_the_documented_steps(self):
        """docs/llm-traces.md's step-by-step block, word for word (the analyse step with a
        built switchyard binary when there is one)."""
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with open(os.path.join(repo, "docs", "llm-traces.md")) as f:
            doc = f.read()
        block = re.search(r"## Step by step.*?```sh\n(.*?)```", doc, re.S).group(1)
        quoted = " ".join(re.search(r"Step 3 prints `runs/llm-example/trace(: [^`]*)`", doc).group(1).split())
        binaries = [os.path.join(repo, b, "switchyard") for b in (".build/release", ".build/debug", ".build-test/release")]
        binary = next((b for b in binaries if os.path.exists(b)), None)
        with tempfile.TemporaryDirectory() as tmp:
            bin_dir = os.path.join(tmp, "bin")
            os.mkdir(bin_dir)
            with open(os.path.join(bin_dir, "python"), "w") as f:   # a venv's python must keep its path
                f.write(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
            os.chmod(os.path.join(bin_dir, "python"), 0o755)
            if binary:
                os.symlink(binary, os.path.join(bin_dir, "switchyard"))
            else:
                block = "\n".join(line for line in block.splitlines() if not line.startswith("switchyard "))
                print("note: no switchyard binary built; the analyse step of docs/llm-traces.md not run")
            env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"], OUT=os.path.join(tmp, "example"))
            run = subprocess.run(["bash", "-e", "-c", block], cwd=repo, env=env, capture_output=True, text=True)
            self.assertEqual(run.returncode, 0, run.stderr[-2000:])
            self.assertIn(os.path.join(tmp, "example", "trace") + quoted, run.stdout)
            if binary:
                with open(os.path.join(tmp, "example", "analysis.json")) as f:
                    analysis = json.load(f)["traces"][0]["analysis"]
                self.assertEqual(analysis["token_count"], 826)
                self.assertEqual([l["load"]["dropped_tokens"] for l in analysis["layers"]], [0, 0])


if __name__ == "__main__":
    if MISSING is not None:
        print(f"skipped: {MISSING}")
    unittest.main()
