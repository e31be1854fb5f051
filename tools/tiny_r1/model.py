# The project's PyTorch implementation of the deepseek_v3 architecture (MLA with low-rank q and kv,
# interleaved-pair RoPE, DeepSeekMoE with sigmoid scores, a selection bias for auxiliary-loss-free load
# balancing, expert groups and a shared expert), used to train and check tiny-r1. Tensor names follow
# the Hugging Face checkpoint layout so a state_dict exports as-is.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Config:
    def __init__(self, d):
        self.__dict__.update(d)
        assert self.model_type == "deepseek_v3"
        assert self.scoring_func == "sigmoid" and self.topk_method == "noaux_tc"
        assert self.rope_scaling is None, "tiny-r1 uses plain RoPE"

    @property
    def qk_head_dim(self):
        return self.qk_nope_head_dim + self.qk_rope_head_dim


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        x = x.float()
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rope_cos_sin(cfg, positions):
    """cos/sin of pos * inv_freq[i], inv_freq[i] = theta^(-2i/d); shape [T, d/2]."""
    d = cfg.qk_rope_head_dim
    inv = cfg.rope_theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = positions.to(torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """Rotates the interleaved pairs (x[2i], x[2i+1]) by the angle of pair i. x: [..., T, d]."""
    x = x.float()
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class MLA(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        h, H = cfg.hidden_size, cfg.num_attention_heads
        self.q_a_proj = nn.Linear(h, cfg.q_lora_rank, bias=False)
        self.q_a_layernorm = RMSNorm(cfg.q_lora_rank, cfg.rms_norm_eps)
        self.q_b_proj = nn.Linear(cfg.q_lora_rank, H * cfg.qk_head_dim, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(h, cfg.kv_lora_rank + cfg.qk_rope_head_dim, bias=False)
        self.kv_a_layernorm = RMSNorm(cfg.kv_lora_rank, cfg.rms_norm_eps)
        self.kv_b_proj = nn.Linear(cfg.kv_lora_rank, H * (cfg.qk_nope_head_dim + cfg.v_head_dim), bias=False)
        self.o_proj = nn.Linear(H * cfg.v_head_dim, h, bias=False)
        self.scale = cfg.qk_head_dim ** -0.5

    def forward(self, x, cos, sin, mask, cache=None):
        """x: [B, T, h]; cos/sin: [T, d/2] or per sequence [B, T, d/2]; mask: True where a query may not
        see a key, broadcastable to [B, H, T, Tk]; cache: dict holding earlier keys/values (extended)."""
        cfg = self.cfg
        B, T, _ = x.shape
        H, dn, dr, dv = cfg.num_attention_heads, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim
        q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x))).view(B, T, H, dn + dr).transpose(1, 2)
        q_nope, q_pe = q[..., :dn], q[..., dn:]
        kva = self.kv_a_proj_with_mqa(x)
        c, k_pe = kva[..., :cfg.kv_lora_rank], kva[..., cfg.kv_lora_rank:]
        kv = self.kv_b_proj(self.kv_a_layernorm(c)).view(B, T, H, dn + dv).transpose(1, 2)
        k_nope, v = kv[..., :dn], kv[..., dn:]
        qcos, qsin = (cos, sin) if cos.dim() == 2 else (cos[:, None], sin[:, None])
        q_pe = apply_rope(q_pe, qcos, qsin)
        k_pe = apply_rope(k_pe, cos, sin)[:, None]  # one rope key shared by all heads
        qf = torch.cat((q_nope.to(q_pe.dtype), q_pe), dim=-1)
        kf = torch.cat((k_nope.to(k_pe.dtype), k_pe.expand(B, H, T, dr)), dim=-1)
        if cache is not None:
            # preallocated [B, H, capacity, d] buffers: appending costs O(T), not a copy of the cache
            n = cache.get("len", 0)
            if "k" not in cache:
                cap = cache["capacity"]
                cache["k"] = torch.empty(B, H, cap, kf.shape[-1], dtype=kf.dtype)
                cache["v"] = torch.empty(B, H, cap, v.shape[-1], dtype=v.dtype)
            cache["k"][:, :, n:n + T] = kf
            cache["v"][:, :, n:n + T] = v
            cache["len"] = n + T
            kf, v = cache["k"][:, :, :n + T], cache["v"][:, :, :n + T]
        scores = torch.matmul(qf, kf.transpose(-1, -2)).float() * self.scale
        scores = scores.masked_fill(mask, float("-inf"))
        p = torch.softmax(scores, dim=-1)
        o = torch.matmul(p.to(v.dtype), v)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, H * dv))


class MLP(nn.Module):
    def __init__(self, h, inter):
        super().__init__()
        self.gate_proj = nn.Linear(h, inter, bias=False)
        self.up_proj = nn.Linear(h, inter, bias=False)
        self.down_proj = nn.Linear(inter, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Gate(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cfg.n_routed_experts, cfg.hidden_size))
        # The selection bias is not trained by gradients; training nudges it towards balanced load.
        self.register_buffer("e_score_correction_bias", torch.zeros(cfg.n_routed_experts))


class MoE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.gate = Gate(cfg)
        self.experts = nn.ModuleList([MLP(cfg.hidden_size, cfg.moe_intermediate_size)
                                      for _ in range(cfg.n_routed_experts)])
        self.shared_experts = MLP(cfg.hidden_size, cfg.moe_intermediate_size * cfg.n_shared_experts)
        self.last_load = None

    def route(self, x):
        """x: [N, h] -> (expert ids [N, k], weights [N, k]) following noaux_tc with groups."""
        cfg = self.cfg
        with torch.autocast("cpu", enabled=False):
            s = F.linear(x.float(), self.gate.weight.float())
        p = torch.sigmoid(s)
        b = p + self.gate.e_score_correction_bias
        N, E, G = b.shape[0], cfg.n_routed_experts, cfg.n_group
        if G > 1:
            gs = b.view(N, G, E // G).topk(2, dim=-1).values.sum(-1)
            keep = gs.topk(cfg.topk_group, dim=-1).indices
            gmask = torch.zeros(N, G, dtype=torch.bool).scatter_(1, keep, True)
            b = b.masked_fill(~gmask.repeat_interleave(E // G, dim=1), float("-inf"))
        idx = b.topk(cfg.num_experts_per_tok, dim=-1).indices
        w = p.gather(1, idx)
        if cfg.norm_topk_prob:
            w = w / w.sum(-1, keepdim=True)
        return idx, w * cfg.routed_scaling_factor

    def forward(self, x, valid):
        B, T, h = x.shape
        xf = x.reshape(B * T, h)
        idx, w = self.route(xf)
        out = torch.zeros(B * T, h, dtype=torch.float32)
        for e, expert in enumerate(self.experts):
            rows, slot = torch.nonzero(idx == e, as_tuple=True)
            if rows.numel() == 0:
                continue
            y = expert(xf[rows]).float() * w[rows, slot, None]
            out.index_add_(0, rows, y)
        out = out + self.shared_experts(xf).float()
        if self.training:
            vm = valid.reshape(-1)
            self.last_load = torch.bincount(idx[vm].reshape(-1), minlength=self.cfg.n_routed_experts)
        return out.view(B, T, h)


class Layer(nn.Module):
    def __init__(self, cfg, i):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = MLA(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.is_moe = i >= cfg.first_k_dense_replace
        self.mlp = MoE(cfg) if self.is_moe else MLP(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, h, cos, sin, mask, valid, cache=None):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, mask, cache).float()
        x = self.post_attention_layernorm(h)
        h = h + (self.mlp(x, valid) if self.is_moe else self.mlp(x).float())
        return h


class Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([Layer(cfg, i) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class DeepseekV3(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Inner(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def init_weights(self, seed):
        g = torch.Generator().manual_seed(seed)
        std = self.cfg.initializer_range
        out_std = std / math.sqrt(2 * self.cfg.num_hidden_layers)
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                p.data.fill_(1.0)
            elif name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                p.data.normal_(0.0, out_std, generator=g)
            else:
                p.data.normal_(0.0, std, generator=g)

    def hidden(self, ids, lengths=None):
        """ids: [B, T] right-padded; returns final hidden states before the norm, [B, T, h]."""
        B, T = ids.shape
        pos = torch.arange(T)
        cos, sin = rope_cos_sin(self.cfg, pos)
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = masked
        if lengths is None:
            valid = torch.ones(B, T, dtype=torch.bool)
        else:
            valid = pos[None, :] < lengths[:, None]
        h = self.model.embed_tokens(ids).float()
        for layer in self.model.layers:
            h = layer(h, cos, sin, mask, valid)
        return h

    def forward(self, ids):
        """Logits for every position, [B, T, V] (float32)."""
        h = self.hidden(ids)
        with torch.autocast("cpu", enabled=False):
            return F.linear(self.model.norm(h), self.lm_head.weight.float())

    def moe_layers(self):
        return [l.mlp for l in self.model.layers if l.is_moe]

    def update_bias(self, gamma):
        """Auxiliary-loss-free balancing: bias += gamma * sign(mean load - load), per MoE layer."""
        for moe in self.moe_layers():
            load = moe.last_load.float()
            moe.gate.e_score_correction_bias += gamma * torch.sign(load.mean() - load)


def count_params(model):
    total = sum(p.numel() for p in model.parameters())
    cfg = model.cfg
    per_expert = 3 * cfg.hidden_size * cfg.moe_intermediate_size
    n_moe = cfg.num_hidden_layers - cfg.first_k_dense_replace
    inactive = n_moe * per_expert * (cfg.n_routed_experts - cfg.num_experts_per_tok)
    return total, total - inactive


@torch.no_grad()
def greedy_generate(model, prompts, eos_id, max_new, stop_ids=()):
    """Batched greedy decoding with a key/value cache. prompts: lists of ids (left-padded inside).
    Returns the generated ids of each prompt (ending with eos_id when it was produced)."""
    model.eval()
    B = len(prompts)
    P = max(len(p) for p in prompts)
    pad = torch.tensor([P - len(p) for p in prompts])
    ids = torch.zeros(B, P, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, P - len(p):] = torch.tensor(p)
    caches = [{"capacity": P + max_new} for _ in model.model.layers]
    out = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool)
    cur, start = ids, 0
    key_valid = torch.arange(P)[None, :] >= pad[:, None]  # [B, Tk]
    for step in range(max_new):
        T = cur.shape[1]
        qpos = torch.arange(start, start + T)
        pos = (qpos[None, :] - pad[:, None]).clamp(min=0)
        cos, sin = rope_cos_sin(model.cfg, pos.reshape(-1))
        cos, sin = cos.view(B, T, -1), sin.view(B, T, -1)
        Tk = start + T
        kpos = torch.arange(Tk)
        causal = kpos[None, :] > qpos[:, None]  # [T, Tk]
        # pad queries see themselves so no row is empty; real queries never see pad keys
        diag = kpos[None, :] == qpos[:, None]
        mask = (causal[None] | ~key_valid[:, None, :]) & ~diag[None]
        mask = mask[:, None]  # [B, 1, T, Tk]
        h = model.model.embed_tokens(cur).float()
        for layer, cache in zip(model.model.layers, caches):
            h = layer(h, cos, sin, mask, None, cache)
        logits = F.linear(model.model.norm(h[:, -1]), model.lm_head.weight.float())
        nxt = logits.argmax(-1)
        for i in range(B):
            if not done[i]:
                out[i].append(int(nxt[i]))
                if int(nxt[i]) == eos_id or int(nxt[i]) in stop_ids:
                    done[i] = True
        if bool(done.all()):
            break
        start += T
        cur = nxt[:, None]
        key_valid = torch.cat((key_valid, torch.ones(B, 1, dtype=torch.bool)), dim=1)
    return out
