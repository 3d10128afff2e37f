#!/usr/bin/env python3
"""PyTorch reference for Switchyard's benchmarks (`switchyard bench train` and `bench route`).

The same model, routers and measurements as Switchyard, written the way a good PyTorch user
would write them: index-based dispatch (argsort / index_select / index_add_, never a one-hot
einsum), batched expert GEMMs where the groups have equal sizes (Expert Choice), fused AdamW
where available, torch.no_grad() around routing bookkeeping, F.scaled_dot_product_attention,
and no torch.compile unless --compile is given.

    python3 bench/torch_reference.py train --preset fmnist-small --router switch --steps 50 --warmup 10 --threads 2
    python3 bench/torch_reference.py route --tokens 1000,10000 --width 64 --experts 2,4,8 --k 1 --router switch
    python3 bench/torch_reference.py gemm --size 1024 --threads 2
    python3 bench/torch_reference.py selftest   # checks of loss-free, top-p, sinkhorn, soft-moe

Each run prints JSON lines on standard output (one for train, one per cell for route);
progress goes to standard error. Needs torch (optional for Switchyard, never for its tests):

    pip install torch --index-url https://download.pytorch.org/whl/cpu

Model (fmnist-small, as Switchyard's preset): 28x28x1 images, patch 4 (49 patches + CLS = 50
tokens), width 64, 4 heads, depth 4, pre-LayerNorm blocks, an MoE feed-forward in every block
with 4 experts of hidden width 256 (GELU, tanh form), final LayerNorm, linear head on the CLS
token; cross-entropy + the routers' auxiliary losses; AdamW lr 1e-3, betas (0.9, 0.999),
weight decay 0.05 on weights only (not biases, norms, CLS, positions), linear warm-up over 100
steps then cosine, batch 128. Routers as docs/routers.md:

- switch: p = softmax(x W^T); top-1; capacity ceil(1.25 n / E), overflow dropped in token
  order; weight p_e*; balance loss 1e-2 * E * sum_e f_e P_e (f before dropping) + z-loss 1e-3;
- expert-choice: S = softmax over experts; each expert takes its top k = ceil(2 n / E) tokens
  (capacity factor 2); weight = S; no auxiliary loss;
- noisy-top-k: Shazeer et al. 2017 (k = 2, noise, importance and load CV^2 losses, 1e-2 each);
- top-2: GShard (second expert kept with probability min(1, 2 g2), capacity ceil(1.25 * 2n / E),
  first choices fill the buffers first, balance loss 1e-2);
- loss-free: s = sigmoid(x W^T); top-2 of s + b, weights s renormalised over the k;
  b (a buffer) += 1e-3 * sign(mean load - load_e) after each optimiser step; no auxiliary loss;
- top-p: p = softmax; the fewest experts (sorted) whose sum exceeds 0.4, raw p as weights; balance
  loss 1e-2 * E * sum_e f_e P_e (f from first choices) + 1e-4 * mean entropy;
- sinkhorn: top-1 of the log-domain Sinkhorn-balanced logits in training (tolerance 1e-4, at most
  100 iterations, no gradient), plain top-1 at evaluation; weight sigmoid(z); no auxiliary loss;
- soft-moe: per image, p = 13 slots per expert (m = 50, E = 4, capacity factor 1); D = softmax
  over the tokens, C over the slots of l2n(X) (scale * l2n(Phi)); no auxiliary loss (route skips it);
- dense: one FFN, no routing.

Synthetic data: one seeded batch of N(0, 1) images and uniform labels reused every step; data
loading is excluded, as in `switchyard bench train`.
"""

import argparse
import json
import math
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - reported to the user
    sys.stderr.write("torch_reference.py needs PyTorch: pip install torch --index-url https://download.pytorch.org/whl/cpu\n")
    sys.exit(3)

# ---------------------------------------------------------------------------------------------
# Presets (Sources/SwitchyardTraining/Presets.swift)

PRESETS = {
    "fmnist-small": dict(channels=1, image=28, patch=4, width=64, heads=4, depth=4, hidden=256, experts=4,
                         classes=10, batch=128, lr=1e-3, weight_decay=0.05, warmup_steps=100, clip=0.0),
    "tiny": dict(channels=1, image=28, patch=7, width=32, heads=2, depth=2, hidden=64, experts=4,
                 classes=10, batch=64, lr=3e-3, weight_decay=0.05, warmup_steps=10, clip=0.0),
}

ROUTERS = ["dense", "switch", "expert-choice", "noisy-top-k", "top-2", "loss-free", "top-p", "sinkhorn", "soft-moe"]


def capacity(factor, assignments, experts):
    """ceil(factor * assignments / E), at least 1, with Switchyard's 1e-9 slack."""
    if assignments == 0:
        return 0
    return max(1, math.ceil(factor * assignments / experts - 1e-9))


def cv_squared(x):
    """Var / (Mean^2 + 1e-10) with the unbiased variance (Shazeer et al.'s reference)."""
    if x.numel() <= 1:
        return x.new_zeros(())
    return x.var() / (x.mean() ** 2 + 1e-10)


def grouped_by_expert(expert_of, experts):
    """Stable sort of assignments by expert: (order, counts); within an expert, input order."""
    order = torch.argsort(expert_of, stable=True)
    counts = torch.bincount(expert_of, minlength=experts)
    return order, counts


def rank_within_expert(sorted_experts, counts):
    """For assignments already sorted by expert: their position inside their expert's group."""
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(sorted_experts.numel(), device=sorted_experts.device) - starts[sorted_experts]


# ---------------------------------------------------------------------------------------------
# Routers. Each returns (tokens, sizes, weights, aux): the token index of every assignment,
# grouped by expert (expert-major), the group sizes (a Python list), the combine weights
# aligned with tokens (differentiable), and the auxiliary loss (a scalar tensor).


class Gate(nn.Module):
    """logits = x W^T, W [E, d] without bias, initialised N(0, 0.1 / d) (Fedus et al. 2021)."""

    def __init__(self, width, experts):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(experts, width) * math.sqrt(0.1 / width))

    def forward(self, x):
        return F.linear(x, self.weight)


class SwitchRouter(nn.Module):
    def __init__(self, width, experts, capacity_factor=1.25, balance=1e-2, z=1e-3):
        super().__init__()
        self.gate = Gate(width, experts)
        self.experts, self.capacity_factor, self.balance, self.z = experts, capacity_factor, balance, z

    def forward(self, x):
        n, e = x.shape[0], self.experts
        logits = self.gate(x)
        probs = logits.softmax(-1)
        top, choice = probs.max(-1)
        with torch.no_grad():
            order, counts = grouped_by_expert(choice, e)
            keep = rank_within_expert(choice[order], counts) < capacity(self.capacity_factor, n, e)
            tokens = order[keep]
            sizes = counts.clamp(max=capacity(self.capacity_factor, n, e)).tolist()
        weights = top[tokens]
        f = counts.to(probs.dtype) / n
        aux = self.balance * e * (f * probs.mean(0)).sum()
        aux = aux + self.z * torch.logsumexp(logits, -1).pow(2).mean()
        return tokens, sizes, weights, aux


class ExpertChoiceRouter(nn.Module):
    def __init__(self, width, experts, capacity_factor=2.0):
        super().__init__()
        self.gate = Gate(width, experts)
        self.experts, self.capacity_factor = experts, capacity_factor

    def forward(self, x):
        n, e = x.shape[0], self.experts
        scores = self.gate(x).softmax(-1)
        k = min(n, capacity(self.capacity_factor, n, e))
        values, indices = torch.topk(scores.t(), k, dim=1)  # each expert picks its top k tokens
        return indices.reshape(-1), [k] * e, values.reshape(-1), scores.new_zeros(())


class NoisyTopKRouter(nn.Module):
    def __init__(self, width, experts, k=2, noise_epsilon=0.01, importance=1e-2, load=1e-2):
        super().__init__()
        self.gate = Gate(width, experts)
        self.noise_gate = Gate(width, experts)
        self.experts, self.k, self.eps, self.w_importance, self.w_load = experts, k, noise_epsilon, importance, load

    def forward(self, x):
        e, k = self.experts, self.k
        clean = self.gate(x)
        sigma = F.softplus(self.noise_gate(x)) + self.eps
        noisy = clean + torch.randn_like(clean) * sigma if self.training else clean
        m = min(k + 1, e)
        top_values, top_indices = noisy.topk(m, dim=1)
        gates_k = top_values[:, :k].softmax(-1)
        indices_k = top_indices[:, :k]
        importance = torch.zeros_like(clean).scatter(1, indices_k, gates_k).sum(0)
        if self.training and k < e:
            normal = torch.distributions.Normal(0.0, 1.0)
            threshold_if_in = top_values[:, k:k + 1]
            threshold_if_out = top_values[:, k - 1:k]
            is_in = noisy > threshold_if_in
            load = torch.where(is_in, normal.cdf((clean - threshold_if_in) / sigma),
                               normal.cdf((clean - threshold_if_out) / sigma)).sum(0)
        else:
            load = torch.bincount(indices_k.reshape(-1), minlength=e).to(clean.dtype)
        aux = self.w_importance * cv_squared(importance) + self.w_load * cv_squared(load)
        with torch.no_grad():
            flat = indices_k.reshape(-1)
            order, counts = grouped_by_expert(flat, e)
            tokens = torch.div(order, k, rounding_mode="floor")
        return tokens, counts.tolist(), gates_k.reshape(-1)[order], aux


class TopTwoRouter(nn.Module):
    def __init__(self, width, experts, capacity_factor=1.25, balance=1e-2, second_policy="random"):
        super().__init__()
        self.gate = Gate(width, experts)
        self.experts, self.capacity_factor, self.balance, self.second_policy = experts, capacity_factor, balance, second_policy

    def forward(self, x):
        n, e = x.shape[0], self.experts
        probs = self.gate(x).softmax(-1)
        values, indices = probs.topk(2, dim=-1)
        g = values / values.sum(-1, keepdim=True)  # g1, g2
        first, second = indices[:, 0], indices[:, 1]
        with torch.no_grad():
            cap = capacity(self.capacity_factor, 2 * n, e)
            order1, counts1 = grouped_by_expert(first, e)
            keep1 = rank_within_expert(first[order1], counts1) < cap
            tokens1, experts1 = order1[keep1], first[order1][keep1]
            kept1 = counts1.clamp(max=cap)
            if self.second_policy == "all":
                candidates = torch.arange(n)
            else:  # GShard's random policy: keep e2 with probability min(1, 2 g2)
                candidates = (torch.rand(n) < 2 * g[:, 1]).nonzero().squeeze(1)
            second_experts = second[candidates]
            order2, counts2 = grouped_by_expert(second_experts, e)
            sorted2 = second_experts[order2]
            keep2 = rank_within_expert(sorted2, counts2) + kept1[sorted2] < cap  # first choices fill first
            tokens2, experts2 = candidates[order2][keep2], sorted2[keep2]
            tokens = torch.cat([tokens1, tokens2])
            which = torch.cat([torch.zeros_like(tokens1), torch.ones_like(tokens2)])
            order, sizes = grouped_by_expert(torch.cat([experts1, experts2]), e)
            tokens, which = tokens[order], which[order]
        weights = g[tokens, which]
        f = counts1.to(probs.dtype) / n
        aux = self.balance * e * (f * probs.mean(0)).sum()
        return tokens, sizes.tolist(), weights, aux


class LossFreeRouter(nn.Module):
    """Wang et al. 2024 / DeepSeek-V3: top-k of s + b (s = sigmoid or softmax of x W^T), combine
    weights the unbiased s (renormalised over the k for sigmoid unless renormalize=False); b is a
    buffer moved by after_step(): b_e += u * sign(mean load - load_e) from the step's loads. As in
    Switchyard, k = 1 with renormalised sigmoid scores is refused (every weight 1, no gradient)."""

    def __init__(self, width, experts, k=2, score="sigmoid", update_rate=1e-3, sequence_loss_weight=0.0,
                 tokens_per_image=0, renormalize=True):
        super().__init__()
        if k == 1 and score == "sigmoid" and renormalize:
            raise ValueError("loss-free: k = 1 with renormalised sigmoid scores weights every token 1; "
                             "use renormalize=False or k >= 2")
        self.renormalize = renormalize
        self.gate = Gate(width, experts)
        self.register_buffer("bias", torch.zeros(experts))
        self.experts, self.k, self.score, self.u = experts, k, score, update_rate
        self.alpha, self.tokens_per_image = sequence_loss_weight, tokens_per_image
        self.last_load = None

    def forward(self, x):
        e, k = self.experts, self.k
        z = self.gate(x)
        s = z.sigmoid() if self.score == "sigmoid" else z.softmax(-1)
        with torch.no_grad():
            chosen = (s + self.bias).topk(k, dim=-1).indices
            flat = chosen.reshape(-1)
            order, counts = grouped_by_expert(flat, e)
            tokens = torch.div(order, k, rounding_mode="floor")
            if self.training:
                self.last_load = counts
        w = s.gather(1, chosen)
        if self.score == "sigmoid" and self.renormalize:
            w = w / w.sum(-1, keepdim=True)
        aux = self.sequence_loss(s, chosen) if self.alpha > 0 else s.new_zeros(())
        return tokens, counts.tolist(), w.reshape(-1)[order], aux

    def sequence_loss(self, s, chosen):
        """DeepSeek-V3's per-sequence (here per-image) loss alpha * mean_seq sum_i f_i P_i."""
        n, e, k = s.shape[0], self.experts, self.k
        t = self.tokens_per_image if self.tokens_per_image > 0 and n % self.tokens_per_image == 0 else n
        groups = n // t
        with torch.no_grad():
            hits = torch.zeros(groups, e, device=s.device).index_add_(
                0, torch.arange(n, device=s.device).repeat_interleave(k) // t,
                F.one_hot(chosen.reshape(-1), e).to(s.dtype))
            f = hits * e / (k * t)
        share = (s / s.sum(-1, keepdim=True)).view(groups, t, e).mean(1)
        return self.alpha * (f * share).sum(-1).mean()

    @torch.no_grad()
    def after_step(self):
        if self.last_load is None:
            return
        load = self.last_load.to(self.bias.dtype)
        self.bias += self.u * torch.sign(load.mean() - load)
        self.last_load = None

    def diagnostics(self):
        return dict(bias=[round(b, 6) for b in self.bias.tolist()])


class TopPRouter(nn.Module):
    """Huang et al. 2024: the shortest prefix of the sorted softmax whose sum exceeds p (>= 1
    expert), raw probabilities as weights; Switch's balance loss (f from first choices) and
    beta * mean_t(-sum_e p log p). The variable-length selection is one mask, no token loop."""

    def __init__(self, width, experts, threshold=0.4, balance=1e-2, dynamic=1e-4):
        super().__init__()
        self.gate = Gate(width, experts)
        self.experts, self.threshold, self.balance, self.dynamic = experts, threshold, balance, dynamic

    def select(self, probs):
        """(token, expert) of every kept assignment in token order, experts in decreasing p."""
        values, indices = probs.sort(-1, descending=True)
        before = values.cumsum(-1) - values  # the mass of the experts ranked above
        keep = before <= self.threshold      # kept until the sum has exceeded p
        rows, ranks = keep.nonzero(as_tuple=True)
        return rows, indices[rows, ranks]

    def forward(self, x):
        n, e = x.shape[0], self.experts
        probs = self.gate(x).softmax(-1)
        with torch.no_grad():
            rows, chosen = self.select(probs)
            order, counts = grouped_by_expert(chosen, e)
            tokens, experts_of = rows[order], chosen[order]
            first = torch.bincount(probs.argmax(-1), minlength=e)
        weights = probs[tokens, experts_of]
        aux = self.balance * e * (first.to(probs.dtype) / n * probs.mean(0)).sum()
        aux = aux + self.dynamic * torch.special.entr(probs).sum(-1).mean()
        return tokens, counts.tolist(), weights, aux


def sinkhorn_log_scales(logits, tolerance=1e-4, max_iterations=100):
    """Sinkhorn in the log domain, float64, as SinkhornRouter.balance: log d0 (n), log d1 (E),
    iterations, converged; P = diag(d0) exp(z) diag(d1) has rows 1/n and columns 1/E."""
    z = logits.detach().double()
    n, e = z.shape
    u, v = z.new_zeros(n), z.new_zeros(e)
    iterations, converged = 0, False
    while iterations < max_iterations and n > 0:
        iterations += 1
        u = -math.log(n) - torch.logsumexp(z + v, dim=1)
        column = -math.log(e) - torch.logsumexp(z + u.unsqueeze(1), dim=0)
        change = (column.exp() - v.exp()).abs().mean().item()
        v = column
        if change <= tolerance:
            converged = True
            break
    return u, v, iterations, converged


class SinkhornRouter(nn.Module):
    """Clark et al. 2022 (S-BASE) as SinkhornRouter.swift: in training the top k of the
    Sinkhorn-balanced logits (no gradient), at evaluation the plain top k; weights act(z) at the
    chosen experts (sigmoid for k = 1, softmax over E for k > 1), not renormalised."""

    def __init__(self, width, experts, k=1, tolerance=1e-4, max_iterations=100):
        super().__init__()
        self.gate = Gate(width, experts)
        self.experts, self.k, self.tolerance, self.max_iterations = experts, k, tolerance, max_iterations
        self.iterations, self.converged, self.calls = 0, 0, 0

    def forward(self, x):
        e, k = self.experts, self.k
        z = self.gate(x)
        s = z.sigmoid() if k == 1 else z.softmax(-1)
        with torch.no_grad():
            if not torch.isfinite(z).all():
                raise FloatingPointError("sinkhorn: a router logit is not finite; Sinkhorn balancing needs finite logits")
            if self.training:
                _, log_column, iterations, converged = sinkhorn_log_scales(z, self.tolerance, self.max_iterations)
                chosen = (z.double() + log_column).topk(k, dim=-1).indices  # log d0 is constant along a row
                self.iterations, self.converged, self.calls = (self.iterations + iterations,
                                                               self.converged + converged, self.calls + 1)
            else:
                chosen = s.topk(k, dim=-1).indices
            order, counts = grouped_by_expert(chosen.reshape(-1), e)
            tokens = torch.div(order, k, rounding_mode="floor")
        weights = s.gather(1, chosen).reshape(-1)[order]
        return tokens, counts.tolist(), weights, z.new_zeros(())

    def diagnostics(self):
        calls = max(self.calls, 1)
        return dict(mean_sinkhorn_iterations=self.iterations / calls, converged_share=self.converged / calls)


def make_router(name, width, experts, k=None, second_policy="random", tokens_per_image=0):
    if name == "switch":
        return SwitchRouter(width, experts)
    if name == "expert-choice":
        return ExpertChoiceRouter(width, experts, capacity_factor=float(k) if k else 2.0)
    if name == "noisy-top-k":
        return NoisyTopKRouter(width, experts, k=k or 2)
    if name == "top-2":
        return TopTwoRouter(width, experts, second_policy=second_policy)
    if name == "loss-free":
        return LossFreeRouter(width, experts, k=k or 2, tokens_per_image=tokens_per_image,
                              renormalize=(k or 2) > 1)
    if name == "top-p":
        return TopPRouter(width, experts)
    if name == "sinkhorn":
        return SinkhornRouter(width, experts, k=k or 1)
    raise ValueError(f"no token router {name!r}; routers: {', '.join(r for r in ROUTERS if r not in ('dense', 'soft-moe'))}")


# ---------------------------------------------------------------------------------------------
# Model


def uniform_(tensor, fan_in):
    bound = 1 / math.sqrt(fan_in)
    return nn.init.uniform_(tensor, -bound, bound)


class Experts(nn.Module):
    """E expert FFNs d -> h -> d (GELU, tanh form), stored stacked: W1 [E, h, d], W2 [E, d, h]."""

    def __init__(self, experts, width, hidden):
        super().__init__()
        self.w1 = nn.Parameter(uniform_(torch.empty(experts, hidden, width), width))
        self.b1 = nn.Parameter(uniform_(torch.empty(experts, hidden), width))
        self.w2 = nn.Parameter(uniform_(torch.empty(experts, width, hidden), hidden))
        self.b2 = nn.Parameter(uniform_(torch.empty(experts, width), hidden))

    def forward(self, xs, sizes):
        e = len(sizes)
        if e > 1 and all(s == sizes[0] for s in sizes):
            # Equal groups (Expert Choice): one batched GEMM per projection.
            h = xs.view(e, sizes[0], -1)
            h = F.gelu(torch.baddbmm(self.b1.unsqueeze(1), h, self.w1.transpose(1, 2)), approximate="tanh")
            return torch.baddbmm(self.b2.unsqueeze(1), h, self.w2.transpose(1, 2)).reshape(-1, xs.shape[1])
        outputs = []
        for i, chunk in enumerate(torch.split(xs, sizes)):
            if chunk.shape[0] == 0:
                continue
            h = F.gelu(F.linear(chunk, self.w1[i], self.b1[i]), approximate="tanh")
            outputs.append(F.linear(h, self.w2[i], self.b2[i]))
        return torch.cat(outputs) if outputs else xs.new_zeros(0, xs.shape[1])


class MoE(nn.Module):
    """y_t = sum over the experts that took t of w * FFN_e(x_t): gather, experts, index_add_."""

    def __init__(self, router, width, hidden, experts, tokens_per_image=0):
        super().__init__()
        self.router = make_router(router, width, experts, tokens_per_image=tokens_per_image)
        self.experts = Experts(experts, width, hidden)
        self.last_assignments = 0.0

    def forward(self, x):
        tokens, sizes, weights, aux = self.router(x)
        outputs = self.experts(x.index_select(0, tokens), sizes)
        self.last_assignments = tokens.numel() / x.shape[0]
        return torch.zeros_like(x).index_add_(0, tokens, outputs * weights.unsqueeze(1)), aux


def soft_moe_slots(tokens_per_image, experts, capacity_factor=1.0):
    """p = max(1, floor(m * c / E + 0.5)), as SoftMoERouter's slots(expertCount:)."""
    return max(1, int(math.floor(tokens_per_image * capacity_factor / experts + 0.5)))


def l2_normalise(x, dim):
    """x / sqrt(sum x^2 + 1e-6) along dim (vmoe's normalize)."""
    return x * torch.rsqrt(x.pow(2).sum(dim, keepdim=True) + 1e-6)


class SoftMoE(nn.Module):
    """Puigcerver et al. 2023 (google-research/vmoe soft_moe/router.py), one group per image of m
    tokens: logits = l2n(X) (scale * l2n(Phi)), m x S with S = E p slots (slot s of expert s // p);
    D = softmax over the m tokens per slot, C = softmax over the S slots per token; slot inputs
    D^T X, expert e on its p slots of every image in one batched GEMM, Y = C (slot outputs)."""

    def __init__(self, width, hidden, experts, tokens_per_image, capacity_factor=1.0):
        super().__init__()
        self.m, self.e = tokens_per_image, experts
        self.p = soft_moe_slots(tokens_per_image, experts, capacity_factor)
        self.phi = nn.Parameter(torch.randn(width, experts * self.p) / math.sqrt(width))  # LeCun normal
        self.scale = nn.Parameter(torch.ones(()))
        self.experts = Experts(experts, width, hidden)
        self.last_assignments = experts * self.p / tokens_per_image  # expert rows per token
        self.last = None

    def weights(self, x):
        """D and C for x [G, m, d]: both [G, m, S]."""
        logits = torch.matmul(l2_normalise(x, -1), self.scale * l2_normalise(self.phi, 0))
        return logits.softmax(1), logits.softmax(2)

    def forward(self, x):
        n, d = x.shape
        if n % self.m:
            raise ValueError(f"soft-moe routes image by image: {n} tokens are not whole images of {self.m} tokens")
        g, e, p = n // self.m, self.e, self.p
        x = x.view(g, self.m, d)
        dispatch, combine = self.weights(x)
        slots = torch.matmul(dispatch.transpose(1, 2), x)                    # [G, S, d]
        per_expert = slots.view(g, e, p, d).transpose(0, 1).reshape(e * g * p, d)
        outputs = self.experts(per_expert, [g * p] * e).view(e, g, p, d).transpose(0, 1).reshape(g, e * p, d)
        self.last = (dispatch.detach(), combine.detach())
        return torch.matmul(combine, outputs).reshape(n, d), x.new_zeros(())

    def diagnostics(self):
        return dict(slots_per_expert=self.p, scale=round(self.scale.item(), 6))


class DenseFFN(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.last_assignments = 1.0

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh")), x.new_zeros(())


class Block(nn.Module):
    def __init__(self, cfg, router):
        super().__init__()
        d = cfg["width"]
        self.heads = cfg["heads"]
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        tokens = (cfg["image"] // cfg["patch"]) ** 2 + 1
        if router == "dense":
            self.ffn = DenseFFN(d, cfg["hidden"])
        elif router == "soft-moe":
            self.ffn = SoftMoE(d, cfg["hidden"], cfg["experts"], tokens)
        else:
            self.ffn = MoE(router, d, cfg["hidden"], cfg["experts"], tokens_per_image=tokens)

    def forward(self, x):  # x: [B, T, d]
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(attended)
        mixed, aux = self.ffn(self.norm2(x).reshape(b * t, d))
        return x + mixed.view(b, t, d), aux


class ViT(nn.Module):
    def __init__(self, cfg, router):
        super().__init__()
        d, p = cfg["width"], cfg["patch"]
        self.patches = (cfg["image"] // p) ** 2
        self.embed = nn.Conv2d(cfg["channels"], d, kernel_size=p, stride=p)  # = Linear on flattened patches
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.positions = nn.Parameter(torch.randn(1, self.patches + 1, d) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg, router) for _ in range(cfg["depth"]))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg["classes"])

    def forward(self, images):
        x = self.embed(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.positions
        aux = x.new_zeros(())
        for block in self.blocks:
            x, a = block(x)
            aux = aux + a
        return self.head(self.norm(x[:, 0])), aux


def parameter_groups(model, weight_decay):
    """Weight decay on weight matrices (and the gates), not on biases, norms, CLS and positions."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_matrix = p.dim() >= 2 and "positions" not in name and not name.endswith("cls")
        (decay if is_matrix else no_decay).append(p)
    return [dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0)]


def forward_flops_per_image(cfg, router, assignments, experts):
    """Switchyard's ModelFLOPs (Sources/SwitchyardVisionTransformer/ModelFLOPs.swift), per image.
    Routers count 2 T r (r = the router's parameters: E d for a linear gate, 2 E d for noisy-top-k,
    d E p + 1 for soft-moe's Phi and scale); experts a T 4 d h with a the measured assignments per
    token (top-p: the kept experts; soft-moe: E p slots / T). Soft-moe adds its two other GEMMs,
    slot inputs D^T X and outputs C Y (2 T S d each), which ModelFLOPs leaves out for token routers."""
    p, d, h, c = cfg["patch"], cfg["width"], cfg["hidden"], cfg["classes"]
    patches = (cfg["image"] // p) ** 2
    t = patches + 1
    slots = experts * soft_moe_slots(t, experts) if router == "soft-moe" else 0
    router_params = {"dense": 0, "noisy-top-k": 2 * experts * d, "soft-moe": d * slots + 1}.get(router, experts * d)
    soft_mixing = 4 * t * slots * d
    total = 2 * patches * cfg["channels"] * p * p * d + 2 * d * c
    for a in assignments:
        total += (2 * t * d * 3 * d + 2 * t * d * d + 4 * t * t * d + 2 * t * router_params + a * t * 4 * d * h
                  + soft_mixing)
    return total


# ---------------------------------------------------------------------------------------------
# Commands


def log(message):
    sys.stderr.write(f"torch_reference: {message}\n")


def diagnostics(model):
    """Per block, what a router reports about itself (loss-free's bias, Sinkhorn's iterations...)."""
    found = [m.diagnostics() for m in model.modules() if hasattr(m, "diagnostics")]
    return found or None


def run_train(args):
    cfg = dict(PRESETS[args.preset])
    if args.batch_size:
        cfg["batch"] = args.batch_size
    if args.experts:
        cfg["experts"] = args.experts
    torch.manual_seed(args.seed)
    model = ViT(cfg, args.router).train()
    try:
        optimizer = torch.optim.AdamW(parameter_groups(model, cfg["weight_decay"]), lr=cfg["lr"], betas=(0.9, 0.999),
                                      eps=1e-8, fused=True)
        fused = True
    except (RuntimeError, TypeError, ValueError):
        optimizer = torch.optim.AdamW(parameter_groups(model, cfg["weight_decay"]), lr=cfg["lr"], betas=(0.9, 0.999),
                                      eps=1e-8, foreach=True)
        fused = False
    total, warm = args.warmup + args.steps, cfg["warmup_steps"]

    def rate(step):  # Switchyard's LearningRateSchedule, as a multiplier of lr
        if step < warm:
            return (step + 1) / warm
        progress = min((step - warm) / max(total - warm, 1), 1.0)
        return 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    generator = torch.Generator().manual_seed(args.seed)
    images = torch.randn(cfg["batch"], cfg["channels"], cfg["image"], cfg["image"], generator=generator)
    labels = torch.randint(cfg["classes"], (cfg["batch"],), generator=generator)
    step_model = torch.compile(model) if args.compile else model
    parameters = [p for p in model.parameters()]
    after_step_hooks = [m.after_step for m in model.modules() if hasattr(m, "after_step")]
    times, assignments = [], [0.0] * cfg["depth"]
    log(f"{args.warmup} warm-up and {args.steps} timed steps of {args.router}, batch {cfg['batch']}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    for step in range(total):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        logits, aux = step_model(images)
        loss = F.cross_entropy(logits, labels) + aux
        loss.backward()
        if cfg["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(parameters, cfg["clip"])
        optimizer.step()
        for hook in after_step_hooks:  # loss-free's bias update
            hook()
        schedule.step()
        elapsed = time.perf_counter() - start
        if step == 0:
            first_loss = loss.item()
        if not math.isfinite(loss.item()):
            raise SystemExit(f"step {step + 1}: the loss is {loss.item()}")
        if step >= args.warmup:
            times.append(elapsed)
            for i, block in enumerate(model.blocks):
                assignments[i] += block.ffn.last_assignments
    assignments = [a / args.steps for a in assignments]
    rates = [cfg["batch"] / t for t in times]
    flops = 3 * forward_flops_per_image(cfg, args.router, assignments, cfg["experts"])
    extra = {}
    if args.router == "soft-moe":  # so that a count without them (ModelFLOPs's convention) can be recovered
        t = (cfg["image"] // cfg["patch"]) ** 2 + 1
        extra["soft_moe_dispatch_combine_training_flops_per_image"] = (
            3 * cfg["depth"] * 4 * t * cfg["experts"] * soft_moe_slots(t, cfg["experts"]) * cfg["width"])
    median_rate = statistics.median(rates)
    print(json.dumps(dict(
        side="pytorch", mode="train", preset=args.preset, router=args.router, experts=cfg["experts"],
        batch_size=cfg["batch"], threads=torch.get_num_threads(), warmup=args.warmup, steps=args.steps,
        median_images_per_second=median_rate, mean_images_per_second=cfg["batch"] * len(times) / sum(times),
        median_step_seconds=statistics.median(times), assignments_per_token=assignments,
        training_flops_per_image=flops, model_gflops=flops * median_rate / 1e9, first_loss=first_loss,
        final_loss=loss.item(), router_diagnostics=diagnostics(model), **extra,
        compile=args.compile, fused_adamw=fused, torch_version=torch.__version__,
        data="synthetic: one seeded batch of N(0, 1) images with uniform labels, reused every step")), flush=True)


ROUTER_BUFFERS = {"switch": 3, "top-2": 4, "expert-choice": 4, "noisy-top-k": 9}


def estimated_bytes(router, n, d, e, k):
    """Switchyard's RoutingBenchmark.estimatedBytes, so that both sides skip the same cells."""
    assignments = math.ceil(n * max(k, 1) * 1.25)
    floats = 4 * n * d + 2 * assignments * d + 2 * assignments + ROUTER_BUFFERS.get(router, 10) * n * e
    return 4 * floats + 16 * n


def parse_list(text, option):
    try:
        values = [int(part.replace("_", "")) for part in text.split(",")]
    except ValueError:
        raise SystemExit(f"{option} takes comma-separated whole numbers, e.g. 1000,10000; got {text!r}")
    if not values or min(values) < 1:
        raise SystemExit(f"{option} takes whole numbers >= 1; got {text!r}")
    return values


def run_route(args):
    tokens_list = parse_list(args.tokens, "--tokens")
    experts_list = parse_list(args.experts, "--experts")
    default_k = {"switch": "1", "top-2": "2", "top-p": "1"}.get(args.router, "1,2")
    ks = parse_list(args.k or default_k, "--k")
    if args.router == "dense":
        raise SystemExit("route: the dense router does not route; choose one of "
                         + ", ".join(r for r in ROUTERS if r not in ("dense", "soft-moe")))
    if args.router == "soft-moe":
        raise SystemExit("route: soft-moe mixes the tokens of each image into slots, so it has no per-token "
                         "dispatch to time here; compare it with `train --router soft-moe`")
    for k in ks:
        if args.router == "switch" and k != 1:
            raise SystemExit("router switch sends each token to one expert: k must be 1")
        if args.router == "top-2" and k != 2:
            raise SystemExit("router top-2 takes k = 2 only")
        if args.router == "top-p" and k != 1:
            raise SystemExit("router top-p chooses its own number of experts per token: k must be 1 (as switchyard bench route)")
    d = args.width
    for n in tokens_list:
        generator = torch.Generator().manual_seed(args.seed + n)
        x = torch.randn(n, d, generator=generator).requires_grad_()
        dy = torch.randn(n, d, generator=generator)
        for e in experts_list:
            for k in ks:
                cell = dict(side="pytorch", mode="route", router=args.router, tokens=n, width=d, experts=e, k=k)
                if args.router in ("noisy-top-k", "loss-free", "sinkhorn") and k > e:
                    print(json.dumps(dict(cell, skipped="k > E")), flush=True)
                    continue
                if estimated_bytes(args.router, n, d, e, k) > args.memory_limit * 2 ** 30:
                    print(json.dumps(dict(cell, skipped="over the memory limit")), flush=True)
                    continue
                torch.manual_seed(args.seed + e)
                router = make_router(args.router, d, e, k=k, second_policy="all").train()
                result = {}

                def forward():
                    tokens, _, weights, aux = router(x)
                    # Identity expert: dispatch (index_select), weight, combine (index_add_).
                    y = torch.zeros_like(x).index_add_(0, tokens, x.index_select(0, tokens) * weights.unsqueeze(1))
                    result["assignments"] = tokens.numel() / n
                    return y, aux

                def one_call():
                    x.grad = None
                    for p in router.parameters():
                        p.grad = None
                    a = time.perf_counter()
                    y, aux = forward()
                    b = time.perf_counter()
                    if aux.requires_grad:
                        torch.autograd.backward([y, aux], [dy, torch.ones(())])
                    else:  # no auxiliary loss (Expert Choice)
                        y.backward(dy)
                    c = time.perf_counter()
                    return b - a, c - b

                one_call()  # lazy initialisation
                first = sum(one_call())  # sets the calls per round
                calls = max(1, math.ceil(args.round_seconds / max(first, 1e-9)))
                forward_rounds, backward_rounds = [], []
                for _ in range(args.repetitions):
                    f_total = b_total = 0.0
                    for _ in range(calls):
                        f, b = one_call()
                        f_total += f
                        b_total += b
                    forward_rounds.append(f_total / calls)
                    backward_rounds.append(b_total / calls)
                fwd, bwd = statistics.median(forward_rounds), statistics.median(backward_rounds)
                print(json.dumps(dict(
                    cell, assignments_per_token=result["assignments"], calls_per_round=calls, rounds=args.repetitions,
                    forward_seconds=fwd, backward_seconds=bwd, forward_ns_per_token=fwd * 1e9 / n,
                    backward_ns_per_token=bwd * 1e9 / n, total_ns_per_token=(fwd + bwd) * 1e9 / n,
                    threads=torch.get_num_threads(), torch_version=torch.__version__)), flush=True)
                log(f"n {n}, E {e}, k {k}: {(fwd + bwd) * 1e9 / n:.1f} ns/token")


def run_gemm(args):
    """Square float32 matrix products a @ b: the BLAS PyTorch runs its linear layers with (MKL
    in the pip wheels), timed as `switchyard bench gemm` and `bench train`'s sgemm peak time
    OpenBLAS: rounds of at least --round-seconds, the median round reported in GFLOP/s."""
    n = args.size
    generator = torch.Generator().manual_seed(args.seed)
    a = torch.randn(n, n, generator=generator)
    b = torch.randn(n, n, generator=generator)
    for _ in range(3):
        a @ b
    rounds = []
    for _ in range(args.repetitions):
        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < args.round_seconds:
            a @ b
            calls += 1
        rounds.append(2 * n ** 3 * calls / (time.perf_counter() - start) / 1e9)
    print(json.dumps(dict(side="pytorch", mode="gemm", size=n, rounds=args.repetitions,
                          median_gflops=statistics.median(rounds), threads=torch.get_num_threads(),
                          blas=("mkl" if torch.backends.mkl.is_available() else "other"),
                          torch_version=torch.__version__)), flush=True)
    log(f"n {n}: {statistics.median(rounds):.1f} GFLOP/s")


def run_selftest(args):
    """Checks of the four newer routers' semantics (no timing): python3 bench/torch_reference.py selftest."""
    failures = []

    def check(name, condition, detail=""):
        log(f"{'ok  ' if condition else 'FAIL'} {name}{': ' + detail if detail else ''}")
        if not condition:
            failures.append(name)

    torch.manual_seed(args.seed)
    d, e = 16, 4

    # loss-free: the bias moves toward balance; weights are the unbiased scores, renormalised.
    router = LossFreeRouter(d, e, k=2, update_rate=1e-2).train()
    x = torch.randn(512, d) + 2.0 * router.gate.weight[0] / router.gate.weight[0].norm()  # skewed to expert 0
    def max_violation():
        load = router.last_load.double()
        return ((load.max() - load.mean()) / load.mean()).item()
    tokens, sizes, weights, _ = router(x)
    start = max_violation()
    loads = router.last_load.clone()
    router.after_step()
    moved = torch.sign(router.bias) == torch.sign(loads.double().mean() - loads.double())
    check("loss-free: after one step the bias rises for underloaded and falls for overloaded experts",
          bool(moved[loads.double() != loads.double().mean()].all()), f"loads {loads.tolist()}, bias {router.bias.tolist()}")
    for _ in range(300):
        router(x)
        router.after_step()
    router(x)
    check("loss-free: MaxVio falls with the bias updates", max_violation() < start / 2,
          f"{start:.3f} -> {max_violation():.3f}, bias {[round(b, 3) for b in router.bias.tolist()]}")
    tokens, sizes, weights, _ = router(x)
    per_token = torch.zeros(x.shape[0]).index_add_(0, tokens, weights.detach())
    check("loss-free: sigmoid weights sum to 1 per token over its k", torch.allclose(per_token, torch.ones(x.shape[0]), atol=1e-5))
    s = router.gate(x).sigmoid().detach()
    experts_of = torch.repeat_interleave(torch.arange(e), torch.tensor(sizes))
    check("loss-free: weights from the unbiased scores",
          torch.allclose(weights.detach() * s.gather(1, (s + router.bias).topk(2).indices).sum(-1)[tokens],
                         s[tokens, experts_of], atol=1e-5))

    try:
        LossFreeRouter(d, e, k=1)
        refused = False
    except ValueError:
        refused = True
    check("loss-free: k = 1 with renormalised sigmoid scores is refused, as in Switchyard", refused)
    router = LossFreeRouter(d, e, k=1, renormalize=False)
    x = torch.randn(64, d)
    tokens, _, weights, _ = router(x)
    (weights * torch.randn_like(weights)).sum().backward()
    check("loss-free: at k = 1 without renormalising the weight is the raw sigmoid score and the gate learns",
          torch.allclose(weights.detach(), router.gate(x).sigmoid().max(-1).values.detach()[tokens], atol=1e-6)
          and bool((router.gate.weight.grad != 0).any()))
    router = LossFreeRouter(d, e, k=1, sequence_loss_weight=1e-4, tokens_per_image=8, renormalize=False)
    s = torch.full((16, e), 0.5, requires_grad=True)
    value = router.sequence_loss(s, (torch.arange(16) % e).unsqueeze(1))
    check("loss-free: the per-image loss is alpha at uniform scores and balanced choices",
          abs(value.item() - 1e-4) < 1e-10 and value.requires_grad, f"{value.item():.3e}")

    # top-p: >= 1 expert per token, kept mass > p, the shortest such prefix (a token loop as reference).
    router = TopPRouter(d, 8).train()
    x = torch.randn(300, d) * torch.linspace(0.1, 30, 300).unsqueeze(1)  # from near-uniform to peaked
    tokens, sizes, weights, aux = router(x)
    probs = router.gate(x).softmax(-1).detach()
    count = torch.bincount(tokens, minlength=x.shape[0])
    mass = torch.zeros(x.shape[0]).index_add_(0, tokens, weights.detach())
    check("top-p: every token keeps at least one expert", bool((count >= 1).all()), f"min {count.min().item()}")
    check("top-p: each token's kept mass exceeds p", bool((mass > router.threshold).all()), f"min {mass.min().item():.4f}")
    reference = []
    for t in range(x.shape[0]):
        order, kept, total = probs[t].argsort(descending=True).tolist(), [], 0.0
        for j in order:
            kept.append(j)
            total += probs[t, j].item()
            if total > router.threshold:
                break
        reference.append(sorted(kept))
    experts_of = torch.repeat_interleave(torch.arange(8), torch.tensor(sizes))
    found = [[] for _ in range(x.shape[0])]
    for t, j in zip(tokens.tolist(), experts_of.tolist()):
        found[t].append(j)
    check("top-p: the same experts as a token-by-token loop", [sorted(f) for f in found] == reference,
          f"{count.double().mean().item():.2f} experts per token on average, from {count.min().item()} to {count.max().item()}")
    check("top-p: raw probabilities as weights", torch.allclose(weights.detach(), probs[tokens, experts_of]))
    check("top-p: auxiliary loss finite and differentiable", bool(torch.isfinite(aux)) and aux.requires_grad)

    # sinkhorn: equal column sums of the balanced matrix, no NaN at logits of +-1e4, balanced top-1.
    extreme = torch.where(torch.rand(256, e) < 0.5, -1e4, 1e4)
    for label, z in (("skewed, scale 1", torch.randn(256, e) + torch.tensor([3.0, 0, 0, 0])),
                     ("skewed, scale 10", 10 * torch.randn(256, e) + torch.tensor([30.0, 0, 0, 0])),
                     ("logits +-1e4", extreme), ("logits +-1e4 skewed", extreme + torch.tensor([1e4, 0, 0, 0]))):
        u, v, iterations, converged = sinkhorn_log_scales(z, 1e-4, 100)
        balanced = (z.double() + u.unsqueeze(1) + v).exp()
        columns, rows = balanced.sum(0), balanced.sum(1)
        row_error = (rows * 256 - 1).abs().max().item()
        check(f"sinkhorn ({label}): finite, every column sums to 1/E" + (", rows to 1/n" if converged else ""),
              bool(torch.isfinite(balanced).all()) and bool(torch.isfinite(u).all() and torch.isfinite(v).all())
              and torch.allclose(columns, torch.full((e,), 1 / e, dtype=torch.float64), rtol=1e-6)
              and (row_error < 1e-2 or not converged),
              f"{iterations} iterations, converged {converged}, E x columns {[round(c * e, 6) for c in columns.tolist()]}, "
              f"max |n x row - 1| {row_error:.2e}")
    z = torch.randn(256, e).double() + torch.tensor([2.0, 0, 0, 0], dtype=torch.float64)
    cost, d0, d1 = z.exp(), torch.ones(256, dtype=torch.float64), torch.ones(e, dtype=torch.float64)
    error, previous = 1e9, d1
    while error > 1e-4:  # Megatron-LM moe_utils.sinkhorn, the linear-domain original
        d0 = (1 / 256) / ((d1 * cost).sum(1) + 1e-8)
        d1 = (1 / e) / ((d0.unsqueeze(1) * cost).sum(0) + 1e-8)
        error = (previous - d1).abs().mean().item()
        previous = d1
    u, v, _, _ = sinkhorn_log_scales(z, 1e-4, 100)
    ours, megatron = (z + u.unsqueeze(1) + v).exp(), d1 * cost * d0.unsqueeze(1)
    check("sinkhorn: the same balanced matrix and top-1 as Megatron's linear-domain loop",
          torch.allclose(ours, megatron, rtol=1e-5) and torch.equal(ours.argmax(1), megatron.argmax(1)),
          f"max relative difference {((ours - megatron).abs() / megatron).max().item():.1e}")
    router = SinkhornRouter(d, e).train()
    with torch.no_grad():
        router.gate.weight[0] += 2.0  # most tokens prefer expert 0 without balancing
    x = torch.randn(256, d).abs()
    _, sizes, weights, _ = router(x)
    plain = torch.bincount(router.gate(x).argmax(-1), minlength=e).tolist()
    check("sinkhorn: training top-1 is balanced where plain top-1 is not", max(sizes) < max(plain),
          f"balanced loads {sizes}, plain {plain}")
    router.eval()
    _, eval_sizes, _, _ = router(x)
    check("sinkhorn: evaluation takes the plain top-1", eval_sizes == plain, f"{eval_sizes}")
    router.train()
    tokens, sizes, weights, _ = router(x)
    experts_of = torch.repeat_interleave(torch.arange(e), torch.tensor(sizes))
    check("sinkhorn: k = 1 weights are sigmoid(z) at the chosen expert, not renormalised",
          torch.allclose(weights.detach(), router.gate(x).sigmoid().detach()[tokens, experts_of]))
    try:
        router.train()(torch.full((4, d), float("nan")))
        check("sinkhorn: a non-finite logit is refused", False)
    except FloatingPointError:
        check("sinkhorn: a non-finite logit is refused", True)

    # soft-moe: D columns and C rows sum to 1, p = 13 on fmnist-small, images do not mix.
    cfg = PRESETS["fmnist-small"]
    m = (cfg["image"] // cfg["patch"]) ** 2 + 1
    layer = SoftMoE(cfg["width"], cfg["hidden"], cfg["experts"], m).train()
    check("soft-moe: p = 13 slots per expert on fmnist-small (m = 50, E = 4)", layer.p == 13, f"p = {layer.p}")
    x = torch.randn(3 * m, cfg["width"])
    y, _ = layer(x)
    dispatch, combine = layer.last
    check("soft-moe: each slot's dispatch weights sum to 1 over the image's tokens",
          torch.allclose(dispatch.sum(1), torch.ones(3, 4 * 13), atol=1e-5))
    check("soft-moe: each token's combine weights sum to 1 over the slots",
          torch.allclose(combine.sum(2), torch.ones(3, m), atol=1e-5))
    x2 = x.clone()
    x2[2 * m:] += 1.0
    y2, _ = layer(x2)
    check("soft-moe: changing image 3 leaves images 1 and 2 unchanged", torch.equal(y[:2 * m], y2[:2 * m]))
    with torch.no_grad():
        slots = torch.einsum("gms,gmd->gsd", dispatch, x.view(3, m, -1))
        # every slot through every expert, then each slot's own expert s // p
        h = F.gelu(torch.einsum("gsd,ehd->gseh", slots, layer.experts.w1) + layer.experts.b1, approximate="tanh")
        out = torch.einsum("gseh,edh->gsed", h, layer.experts.w2) + layer.experts.b2
        own = out[:, torch.arange(52), torch.arange(52) // 13]
        expected = torch.einsum("gms,gsd->gmd", combine, own).reshape(3 * m, -1)
    check("soft-moe: output = C (experts on D^T X), slot s on expert s // p", torch.allclose(y.detach(), expected, atol=1e-4),
          f"max |diff| {(y.detach() - expected).abs().max().item():.2e}")

    # Every new router trains a few steps of the tiny preset with finite losses and gradients.
    for name in ("loss-free", "top-p", "sinkhorn", "soft-moe"):
        torch.manual_seed(args.seed)
        tiny = dict(PRESETS["tiny"], batch=16)
        model = ViT(tiny, name).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        images, labels = torch.randn(16, 1, 28, 28), torch.randint(10, (16,))
        losses, finite = [], True
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            logits, aux = model(images)
            loss = F.cross_entropy(logits, labels) + aux
            loss.backward()
            finite &= all(torch.isfinite(p.grad).all().item() for p in model.parameters() if p.grad is not None)
            optimizer.step()
            for module in model.modules():
                if hasattr(module, "after_step"):
                    module.after_step()
            losses.append(loss.item())
        check(f"{name}: 3 training steps of the tiny preset, finite losses and gradients",
              finite and all(math.isfinite(v) for v in losses), f"losses {[round(v, 4) for v in losses]}")

    if failures:
        raise SystemExit(f"selftest: {len(failures)} check(s) failed: {', '.join(failures)}")
    print(json.dumps(dict(side="pytorch", mode="selftest", passed=True, torch_version=torch.__version__)), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="PyTorch reference for `switchyard bench train` and `bench route` (JSON lines on stdout).",
        epilog="Examples:\n"
               "  python3 bench/torch_reference.py train --preset fmnist-small --router switch --steps 50 --warmup 10 --threads 2\n"
               "  python3 bench/torch_reference.py route --tokens 1000,10000,100000 --width 64 --experts 2,8,64 --k 1 --router switch\n"
               "  python3 bench/torch_reference.py gemm --size 1024 --threads 2\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="training throughput (images/s) of a preset and router")
    train.add_argument("--preset", choices=sorted(PRESETS), default="fmnist-small")
    train.add_argument("--router", choices=ROUTERS, default="switch")
    train.add_argument("--steps", type=int, default=50, help="timed steps (default 50)")
    train.add_argument("--warmup", type=int, default=10, help="untimed warm-up steps (default 10)")
    train.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    train.add_argument("--batch-size", type=int, default=None, help="images per step (default: the preset's)")
    train.add_argument("--experts", type=int, default=None, help="experts per MoE layer (default: the preset's)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--compile", action="store_true", help="torch.compile the model (off by default)")

    route = sub.add_parser("route", help="routing microbenchmark (ns/token), expert compute excluded")
    route.add_argument("--router", choices=ROUTERS, default="switch",
                       help="a token router (dense and soft-moe have no per-token dispatch and are refused)")
    route.add_argument("--tokens", default="1000,10000,100000,1000000", help="token counts n, comma-separated")
    route.add_argument("--width", type=int, default=64, help="token width d")
    route.add_argument("--experts", default="2,4,8,16,32,64,128,256", help="expert counts E, comma-separated")
    route.add_argument("--k", default=None, help="experts per token, comma-separated (as switchyard bench route)")
    route.add_argument("--repetitions", type=int, default=5, help="timed rounds per cell; the median is reported")
    route.add_argument("--round-seconds", type=float, default=0.05, help="minimum length of a round")
    route.add_argument("--memory-limit", type=float, default=8.0, help="skip cells estimated above this many GiB")
    route.add_argument("--threads", type=int, default=2)
    route.add_argument("--seed", type=int, default=0)

    gemm = sub.add_parser("gemm", help="float32 a @ b on square matrices (GFLOP/s): PyTorch's BLAS, as `switchyard bench gemm`")
    gemm.add_argument("--size", type=int, default=1024, help="matrix side n (default 1024, as bench train's sgemm peak)")
    gemm.add_argument("--repetitions", type=int, default=9, help="timed rounds; the median is reported")
    gemm.add_argument("--round-seconds", type=float, default=0.05, help="minimum length of a round")
    gemm.add_argument("--threads", type=int, default=2)
    gemm.add_argument("--seed", type=int, default=0)

    selftest = sub.add_parser("selftest", help="checks of the loss-free, top-p, sinkhorn and soft-moe semantics (no timing)")
    selftest.add_argument("--threads", type=int, default=1)
    selftest.add_argument("--seed", type=int, default=0)

    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.command == "train" and (args.steps < 1 or args.warmup < 0):
        parser.error("--steps must be at least 1 and --warmup at least 0")
    if args.command == "route" and (args.repetitions < 1 or args.width < 1):
        parser.error("--repetitions and --width must be at least 1")
    if args.command == "gemm" and (args.repetitions < 1 or args.size < 1):
        parser.error("--repetitions and --size must be at least 1")
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    if args.command == "selftest":
        run_selftest(args)
    elif args.command == "train":
        run_train(args)
    elif args.command == "gemm":
        run_gemm(args)
    else:
        run_route(args)


if __name__ == "__main__":
    main()
