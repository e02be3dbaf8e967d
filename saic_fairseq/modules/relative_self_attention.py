"""Self-attention with Shaw et al. relative position representations (paper eqs. 6-8).

    logits_ij = q_i . (k_j + a^K_ij) / sqrt(d),   out_i = sum_j softmax_ij (v_j + a^V_ij)
    a_ij = Emb(clip(p_j - p_i, -w, w))

p are *full-sentence* positions passed in by the caller (the Outliner's tokens sit at 0, k,
2k, ...), so Outliner and Filler agree on distances. Because only 2w + 1 distances exist, the
relative terms are computed against the 2w + 1 embeddings and gathered / scattered, never as
a (T x T x d) tensor.
"""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from fairseq.incremental_decoding_utils import with_incremental_state
from torch import Tensor, nn


@with_incremental_state
class RelativeSelfAttention(nn.Module):
    """Multi-head self-attention with clipped relative positions on keys and values.

    Args:
        embed_dim: model width C.
        num_heads: H; C must divide by H.
        window: w, the clip distance (docs/design.md: defaults to the group size k); None turns
            the relative terms off (plain self-attention: the ablation "-RPR" of Table 7).
        dropout: attention-probability dropout.
    """

    def __init__(self, embed_dim, num_heads, window, dropout=0.0):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.relative = window is not None
        self.window = int(window) if self.relative else 0
        self.dropout = dropout
        self.scaling = self.head_dim**-0.5
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj.weight, gain=2**-0.5)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.in_proj.bias)
        nn.init.zeros_(self.out_proj.bias)
        if self.relative:
            self.relative_keys = nn.Embedding(2 * self.window + 1, self.head_dim)
            self.relative_values = nn.Embedding(2 * self.window + 1, self.head_dim)
            nn.init.normal_(self.relative_keys.weight, std=self.head_dim**-0.5)
            nn.init.normal_(self.relative_values.weight, std=self.head_dim**-0.5)

    def relative_buckets(self, query_positions, key_positions):
        """(..., Tq), (..., Tk) sentence positions -> (..., Tq, Tk) indices into the 2w + 1
        embeddings (``...``: nothing, or the batch for per-sentence positions)."""
        distance = key_positions.unsqueeze(-2) - query_positions.unsqueeze(-1)
        return distance.clamp(-self.window, self.window) + self.window

    def forward(
        self,
        x: Tensor,
        positions: Tensor,
        key_padding_mask: Optional[Tensor] = None,
        attn_mask: Optional[Tensor] = None,
        incremental_state: Optional[Dict[str, Dict[str, Optional[Tensor]]]] = None,
    ) -> Tensor:
        """
        Args:
            x: (T, B, C) queries (and, without a cache, keys and values too).
            positions: (T,) or (B, T) long, the sentence position of each row of ``x``.
            key_padding_mask: (B, T) bool, True at padding keys (not used with a cache).
            attn_mask: (T, T) or (B, T, T) additive float mask (-inf where attention is
                forbidden).
            incremental_state: cache of earlier steps' keys, values and positions; when
                given, ``x`` holds only the new step(s) and attends to everything cached.
        Returns:
            (T, B, C)
        """
        tgt_len, bsz, _ = x.shape
        q, k, v = self.in_proj(x).chunk(3, dim=-1)
        # (T, B, C) -> (B, H, T, d)
        q, k, v = (t.reshape(-1, bsz, self.num_heads, self.head_dim).permute(1, 2, 0, 3) for t in (q, k, v))
        key_positions = positions
        if incremental_state is not None:
            cache = self.get_incremental_state(incremental_state, "rel_attn") or {}
            if "prev_key" in cache:
                k = torch.cat([cache["prev_key"], k], dim=2)
                v = torch.cat([cache["prev_value"], v], dim=2)
                key_positions = torch.cat([cache["prev_positions"], positions], dim=-1)
            self.set_incremental_state(
                incremental_state, "rel_attn", {"prev_key": k, "prev_value": v, "prev_positions": key_positions}
            )
        q = q * self.scaling
        logits = torch.matmul(q, k.transpose(-1, -2))  # (B, H, Tq, Tk)
        if self.relative:
            buckets = self.relative_buckets(positions, key_positions)  # (Tq, Tk) or (B, Tq, Tk)
            if buckets.dim() == 3:
                buckets = buckets.unsqueeze(1)
            buckets = buckets.expand(bsz, self.num_heads, -1, -1)
            rel_logits = torch.matmul(q, self.relative_keys.weight.t())  # (B, H, Tq, 2w+1)
            logits = logits + rel_logits.gather(-1, buckets)
        if attn_mask is not None:
            logits = logits + (attn_mask.unsqueeze(1) if attn_mask.dim() == 3 else attn_mask)
        if key_padding_mask is not None:
            logits = logits.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        probs = F.softmax(logits.float(), dim=-1).type_as(logits)
        probs = F.dropout(probs, p=self.dropout, training=self.training)
        out = torch.matmul(probs, v)
        if self.relative:
            # sum the probabilities that fall on each distance bucket, then mix the value embeddings
            bucket_probs = probs.new_zeros(probs.shape[:-1] + (2 * self.window + 1,))
            bucket_probs.scatter_add_(-1, buckets, probs)
            out = out + torch.matmul(bucket_probs, self.relative_values.weight)
        out = out.permute(2, 0, 1, 3).reshape(tgt_len, bsz, self.embed_dim)
        return self.out_proj(out)

    def reorder_incremental_state(self, incremental_state, new_order):
        """Follow beam search: reorder the cached keys and values along the batch."""
        cache = self.get_incremental_state(incremental_state, "rel_attn")
        if cache is not None and "prev_key" in cache:
            cache = dict(cache)
            cache["prev_key"] = cache["prev_key"].index_select(0, new_order)
            cache["prev_value"] = cache["prev_value"].index_select(0, new_order)
            if cache["prev_positions"].dim() == 2:  # per-sentence positions follow their sentence
                cache["prev_positions"] = cache["prev_positions"].index_select(0, new_order)
            self.set_incremental_state(incremental_state, "rel_attn", cache)
        return incremental_state
