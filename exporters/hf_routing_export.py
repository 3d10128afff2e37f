"""Record the routing of a Hugging Face MoE causal language model as a Switchyard trace.

Forward hooks on each MoE block's router (`mlp.gate`) record the experts and combine weights
the model itself uses; pad tokens (attention mask 0) are left out, never written as empty
slots. The output directory holds the NPY arrays of docs/trace-format.md ("NumPy .npy
arrays") plus `meta.json` (block numbers, convention, shared experts) and, for Qwen2/3-MoE,
`shared_gate.npy`. docs/llm-traces.md is the user's guide.

    python exporters/hf_routing_export.py --model PATH_OR_ID --token-ids ids.npy --out trace/

torch, numpy and transformers are needed here only; Switchyard itself never imports this.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

FORMAT = "switchyard-hf-routing-export/1"

# What each model type's router does (transformers' modeling_<type>.py), as recorded in meta.json.
CONVENTIONS = {
    "mixtral": "softmax over E, top-k, renormalised over the k",
    "qwen2_moe": "softmax over E, top-k, renormalised over the k if norm_topk_prob; sigmoid-gated shared expert",
    "qwen3_moe": "softmax over E, top-k, renormalised over the k if norm_topk_prob",
    "olmoe": "softmax over E, top-k, renormalised over the k if norm_topk_prob",
    "deepseek_v2": "softmax over E, top-k (greedy or group-limited by group max), times routed_scaling_factor",
    "deepseek_v3": "sigmoid scores; selection by top-k of scores + e_score_correction_bias within the "
                   "topk_group best of n_group groups (group score = sum of its 2 best biased scores); "
                   "weights = unbiased scores of the chosen experts, renormalised if norm_topk_prob, "
                   "times routed_scaling_factor",
}
SIGMOID_TYPES = {"deepseek_v3"}
LABEL_LIMIT = 2**31 - 2   # the largest label (class) the trace format takes: token ids are int32


class ExportError(Exception):
    """Bad input: the message names the file or option and the value."""


def moe_blocks(model):
    """(block number, MoE module) for each decoder block whose MLP is routed."""
    layers = getattr(getattr(model, "model", model), "layers", None)
    if layers is None:
        raise ExportError(f"model {type(model).__name__}: no decoder layers at model.model.layers")
    blocks = [(i, layer.mlp) for i, layer in enumerate(layers)
              if hasattr(layer.mlp, "gate") and hasattr(layer.mlp, "experts")]
    if not blocks:
        raise ExportError(f"model {type(model).__name__}: no MoE block (mlp with gate and experts) found")
    return blocks


def route_from_logits(logits, gate, config):
    """(weights, experts) from router logits by the family's formula: for routers that return
    only logits (transformers before 5.0); routers that return their own selection are used as is."""
    kind = config.model_type
    k = config.num_experts_per_tok
    logits = logits.float()
    if kind in SIGMOID_TYPES:
        scores = logits.sigmoid()
        choice = scores + gate.e_score_correction_bias.float()
        n_group, topk_group = config.n_group, config.topk_group
        grouped = choice.view(-1, n_group, choice.shape[-1] // n_group)
        group_idx = grouped.topk(2, dim=-1)[0].sum(-1).topk(topk_group, dim=-1, sorted=False)[1]
        group_mask = torch.zeros(choice.shape[0], n_group, dtype=torch.bool).scatter_(1, group_idx, True)
        choice = choice.masked_fill(~group_mask.repeat_interleave(choice.shape[-1] // n_group, dim=1), float("-inf"))
        experts = choice.topk(k, dim=-1, sorted=False)[1]
        weights = scores.gather(1, experts)
        if config.norm_topk_prob:
            weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
        return weights * config.routed_scaling_factor, experts
    probs = logits.softmax(-1)
    if kind == "deepseek_v2" and config.topk_method == "group_limited_greedy":
        n_group = config.n_group
        group_idx = probs.view(-1, n_group, probs.shape[-1] // n_group).max(-1).values.topk(
            config.topk_group, dim=-1, sorted=False)[1]
        group_mask = torch.zeros(probs.shape[0], n_group, dtype=torch.bool).scatter_(1, group_idx, True)
        probs = probs.masked_fill(~group_mask.repeat_interleave(probs.shape[-1] // n_group, dim=1), 0.0)
    weights, experts = probs.topk(k, dim=-1)
    if kind == "mixtral" or (kind != "deepseek_v2" and config.norm_topk_prob):
        weights = weights / weights.sum(-1, keepdim=True)
    if kind == "deepseek_v2":
        weights = weights * config.routed_scaling_factor
    return weights, experts


def selects_off_maximum(config):
    """Whether the router may leave out a token's most probable expert (bias or expert groups)."""
    return config.model_type in SIGMOID_TYPES or (
        config.model_type == "deepseek_v2" and config.topk_method == "group_limited_greedy")


def router_distribution(logits, config):
    """The router's distribution over E: softmax, or for sigmoid routers the unbiased sigmoid
    scores normalised to sum 1."""
    logits = logits.float()
    if config.model_type in SIGMOID_TYPES:
        s = logits.sigmoid()
        return s / s.sum(-1, keepdim=True)
    return logits.softmax(-1)


class RoutingRecorder:
    """Forward hooks on every MoE block's router (and Qwen's shared-expert gate) of `model`."""

    def __init__(self, model):
        self.model = model
        self.config = model.config
        if self.config.model_type not in CONVENTIONS:
            raise ExportError(f"model type '{self.config.model_type}' is not supported "
                              f"(supported: {', '.join(sorted(CONVENTIONS))})")
        self.blocks = moe_blocks(model)
        self.current = {}
        self.handles = []
        for number, block in self.blocks:
            self.handles.append(block.gate.register_forward_hook(self._gate_hook(number)))
            if hasattr(block, "shared_expert_gate"):
                self.handles.append(block.shared_expert_gate.register_forward_hook(self._shared_hook(number)))

    def _gate_hook(self, number):
        def hook(module, inputs, output):
            if isinstance(output, tuple) and len(output) == 3:
                logits, weights, experts = output
            else:
                logits = output
                weights, experts = route_from_logits(logits, module, self.config)
            self.current[("route", number)] = (logits.detach().float(), weights.detach().float(), experts.detach())
        return hook

    def _shared_hook(self, number):
        def hook(module, inputs, output):
            self.current[("shared", number)] = torch.sigmoid(output.detach().float()).reshape(-1)
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def export_routing(model, token_ids, attention_mask, batch_size=8, sequence_offset=0):
    """Runs `model` on `token_ids` (B × S) with `attention_mask` (B × S, 1 = token, 0 = pad) and
    returns the trace as numpy arrays plus the metadata dictionary (see write_trace)."""
    token_ids = torch.as_tensor(np.asarray(token_ids), dtype=torch.long)
    mask = torch.as_tensor(np.asarray(attention_mask), dtype=torch.long)
    if token_ids.dim() != 2 or mask.shape != token_ids.shape:
        raise ExportError(f"token ids {tuple(token_ids.shape)} and attention mask {tuple(mask.shape)}: "
                          "expected two arrays of the same shape (sequences × length)")
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ExportError("attention mask: values other than 0 and 1")
    if bool((mask.sum(1) == 0).any()):
        raise ExportError(f"attention mask: sequence {int((mask.sum(1) == 0).nonzero()[0])} has no token")
    vocab = model.config.vocab_size
    if vocab - 1 > LABEL_LIMIT:
        raise ExportError(f"vocabulary of {vocab}: token ids above {LABEL_LIMIT} do not fit the trace's int32 labels")
    if bool(((token_ids < 0) | (token_ids >= vocab))[mask == 1].any()):
        raise ExportError(f"token ids: a value outside 0..{vocab - 1} (the model's vocabulary)")
    recorder = RoutingRecorder(model)
    blocks = [b for b, _ in recorder.blocks]
    parts = {key: [] for key in ("experts", "weights", "probs", "shared", "labels", "positions", "groups")}
    device = next(model.parameters()).device
    try:
        model.eval()
        for start in range(0, token_ids.shape[0], batch_size):
            ids, m = token_ids[start:start + batch_size], mask[start:start + batch_size]
            positions = (m.cumsum(1) - 1).clamp(min=0)     # left or right padding alike
            recorder.current.clear()
            with torch.no_grad():
                model(input_ids=ids.to(device), attention_mask=m.to(device), position_ids=positions.to(device))
            keep = m.reshape(-1).bool()
            experts, weights, probs, shared = [], [], [], []
            for b in blocks:
                if ("route", b) not in recorder.current:
                    raise ExportError(f"block {b}: its router was not called (a compiled or fused model?); "
                                      "export from the eager model")
                logits, w, e = recorder.current[("route", b)]
                k = w.shape[-1]
                logits = logits.reshape(-1, logits.shape[-1])
                w, e = w.reshape(-1, k).cpu()[keep], e.reshape(-1, k).cpu()[keep]
                # Slots by combine weight, largest first (DeepSeek's top-k is unsorted).
                w, order = torch.sort(w, dim=-1, descending=True, stable=True)
                experts.append(e.gather(1, order))
                weights.append(w)
                probs.append(router_distribution(logits.cpu(), model.config)[keep])
                if ("shared", b) in recorder.current:
                    shared.append(recorder.current[("shared", b)].cpu()[keep])
            parts["experts"].append(torch.stack(experts))
            parts["weights"].append(torch.stack(weights))
            parts["probs"].append(torch.stack(probs))
            if shared:
                parts["shared"].append(torch.stack(shared))
            parts["labels"].append(ids[m.bool()])
            parts["positions"].append(positions[m.bool()])
            rows = torch.arange(start, start + ids.shape[0]) + sequence_offset
            parts["groups"].append(rows.unsqueeze(1).expand_as(ids)[m.bool()])
    finally:
        recorder.remove()
    # The importer takes the row maximum of probs.npy as the token's preferred expert and counts
    # a token whose preferred expert is not among its experts as dropped. A router that selects
    # by biased or group-limited scores (DeepSeek) skips the maximum by design, so its
    # distribution goes to router_scores.npy, which the importer does not read.
    distribution = "router_scores" if selects_off_maximum(model.config) else "probs"
    arrays = {
        "experts": torch.cat(parts["experts"], 1).numpy().astype(np.int32),
        "weights": torch.cat(parts["weights"], 1).numpy().astype(np.float32),
        distribution: torch.cat(parts["probs"], 1).numpy().astype(np.float32),
        "labels": torch.cat(parts["labels"]).numpy().astype(np.int32),
        "positions": torch.cat(parts["positions"]).numpy().astype(np.int32),
        "groups": torch.cat(parts["groups"]).numpy().astype(np.int32),
    }
    if parts["shared"]:
        arrays["shared_gate"] = torch.cat(parts["shared"], 1).numpy().astype(np.float32)
    return arrays, metadata(model, blocks, arrays, int((mask == 0).sum()))


def metadata(model, blocks, arrays, pad_tokens):
    config = model.config
    kind = config.model_type
    distribution = "router_scores" if "router_scores" in arrays else "probs"
    experts = arrays[distribution].shape[-1]
    meta = {
        "format": FORMAT,
        "model": getattr(config, "_name_or_path", "") or type(model).__name__,
        "model_type": kind,
        "architecture": type(model).__name__,
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "blocks": blocks,
        "decoder_blocks": len(getattr(model, "model", model).layers),
        "experts": experts,
        "k": int(arrays["experts"].shape[-1]),
        "tokens": int(arrays["groups"].shape[0]),
        "sequences": int(len(np.unique(arrays["groups"]))),
        "pad_tokens_left_out": pad_tokens,
        "convention": CONVENTIONS[kind],
        "renormalised_over_k": kind == "mixtral" or (kind != "deepseek_v2" and bool(config.norm_topk_prob)),
        "slot_order": "by combine weight, largest first",
        distribution: ("sigmoid scores without the bias, normalised to sum 1 over E (not what the router selects by)"
                       if kind in SIGMOID_TYPES else "softmax of the router logits over E"),
        "labels": "token ids",
        "positions": "position in the sequence, pads not counted",
        "groups": "sequence index",
        "shared_experts": shared_expert_info(model, config),
        "torch": torch.__version__,
    }
    try:
        import transformers
        meta["transformers"] = transformers.__version__
    except ImportError:
        pass
    if kind in ("deepseek_v2", "deepseek_v3"):
        meta["routed_scaling_factor"] = float(config.routed_scaling_factor)
        meta["n_group"], meta["topk_group"] = int(config.n_group), int(config.topk_group)
    return meta


def shared_expert_info(model, config):
    kind = config.model_type
    if kind == "qwen2_moe":
        return {"count": 1, "gated": True,
                "gate": "sigmoid(shared_expert_gate(x)) per token, in shared_gate.npy (MoE blocks × tokens)"}
    if kind in ("deepseek_v2", "deepseek_v3"):
        return {"count": int(config.n_shared_experts), "gated": False, "gate": "always on with weight 1"}
    return {"count": 0}


def write_trace(arrays, meta, out, overwrite=False):
    """Writes the arrays and meta.json into `out` as a whole: a temporary folder beside it,
    renamed at the end, so a failure never leaves a half-written trace."""
    out = os.path.abspath(out)
    if os.path.exists(out):
        if not overwrite:
            raise ExportError(f"{out}: exists (pass --overwrite to replace it)")
        if not os.path.isdir(out) or not os.path.exists(os.path.join(out, "meta.json")) and os.listdir(out):
            raise ExportError(f"{out}: exists and is not a trace written by this exporter; not replaced")
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        for name, a in arrays.items():
            np.save(os.path.join(tmp, f"{name}.npy"), np.ascontiguousarray(a))
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
            f.write("\n")
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_inputs(args, model):
    """(token ids, attention mask) from --token-ids/--attention-mask or --text."""
    if args.text:
        from transformers import AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.model)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        with open(args.text) as f:
            lines = [line.rstrip("\n") for line in f if line.strip()]
        if not lines:
            raise ExportError(f"{args.text}: no non-empty line")
        enc = tokenizer(lines, padding=True, truncation=True, max_length=args.max_length, return_tensors="np")
        return enc["input_ids"], enc["attention_mask"]
    try:
        ids = np.load(args.token_ids)
    except (OSError, ValueError) as e:
        raise ExportError(f"{args.token_ids}: not a readable .npy file ({e})")
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ExportError(f"{args.token_ids}: expected a 2-D integer array (sequences × length), "
                          f"found shape {ids.shape} of {ids.dtype}")
    if args.attention_mask:
        mask = np.load(args.attention_mask)
        if mask.shape != ids.shape:
            raise ExportError(f"{args.attention_mask}: shape {mask.shape}, expected {ids.shape} as {args.token_ids}")
        return ids, mask.astype(np.int64)
    if args.pad_id is not None:
        return ids, (ids != args.pad_id).astype(np.int64)
    pad = getattr(model.config, "pad_token_id", None)
    if pad is not None and (ids == pad).any():
        raise ExportError(f"{args.token_ids}: holds the model's pad token id {pad} "
                          f"({int((ids == pad).sum())} times) but no --attention-mask or --pad-id was given; "
                          "pads would be routed as tokens")
    return ids, np.ones_like(ids, dtype=np.int64)


def sequence_domains(path, groups, sequences):
    """(each token's domain, the domain names) from `path`: one domain name per sequence, in
    sequence order; domains are numbered in order of first appearance."""
    try:
        with open(path) as f:
            names = [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise ExportError(f"{path}: cannot be read ({e})")
    if len(names) != sequences:
        raise ExportError(f"{path}: {len(names)} domain names for {sequences} sequences (one per line, in sequence order)")
    order = list(dict.fromkeys(names))
    index = {name: i for i, name in enumerate(order)}
    per_sequence = np.array([index[name] for name in names], dtype=np.int32)
    return per_sequence[groups], order


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def main(argv=None):
    p = argparse.ArgumentParser(description="Export the routing of a Hugging Face MoE model as a Switchyard NPY trace.")
    p.add_argument("--model", required=True, help="Hugging Face model id or local folder (from_pretrained)")
    p.add_argument("--out", required=True, help="output folder (the trace)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--token-ids", help=".npy of token ids, sequences × length")
    src.add_argument("--text", help="text file, one sequence per line (tokenised with the model's tokenizer)")
    p.add_argument("--attention-mask", help=".npy of the same shape as --token-ids, 1 = token, 0 = pad")
    p.add_argument("--pad-id", type=int, help="token id that marks padding in --token-ids")
    p.add_argument("--tokenizer", help="tokenizer for --text when not the model's")
    p.add_argument("--max-length", type=int, default=512, help="--text: truncate sequences to this many tokens")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--domains", help="text file, one domain name per sequence (e.g. code, arxiv), for domain "
                                     "specialisation: written to domains.npy and meta.json's domain_names")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    try:
        if args.attention_mask and not args.token_ids:
            raise ExportError("--attention-mask goes with --token-ids")
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=DTYPES[args.dtype])
        ids, mask = load_inputs(args, model)
        arrays, meta = export_routing(model, ids, mask, batch_size=args.batch_size)
        if args.domains:
            arrays["domains"], meta["domain_names"] = sequence_domains(args.domains, arrays["groups"], ids.shape[0])
        meta["model"] = args.model
        write_trace(arrays, meta, args.out, overwrite=args.overwrite)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.out}: {meta['tokens']} tokens of {meta['sequences']} sequences, MoE blocks {meta['blocks']}, "
          f"E = {meta['experts']}, k = {meta['k']} ({meta['pad_tokens_left_out']} pad tokens left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
