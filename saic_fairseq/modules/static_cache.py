"""Decoding with a preallocated cache instead of fairseq's incremental-state dictionaries.

fairseq's incremental decoding keeps each layer's keys and values in dictionaries looked up by
string per module and call, grows them by concatenation every step, and reorders every cached
tensor, the image's keys and values included, between beam steps. At captioning sizes that
bookkeeping, not arithmetic, is most of a step. Here one search owns one :class:`StaticCache`:

* ``self_kv`` (L, 2, B, H, T_max, d): every layer's self-attention keys and values, written in
  place at step t; a beam reorder is one ``index_select`` of it;
* an :class:`ImageMemory`: every layer's cross-attention keys and values of the image,
  projected once per image and shared by the Outliner's steps and the Filler's full pass;
* ``positions`` (T_max,): the sentence position of each step (0, 1, 2, ... or 0, k, 2k, ...).

The arithmetic is the incremental path's, op for op (the same projections, matmul shapes and
float softmax), so decoding gives the same tokens and scores (``tests/test_static_cache.py``).
:func:`full_width_step` is the same step over all T_max cache slots with the empty ones
masked: one shape per batch size, what ``torch.compile`` and CUDA graphs need
(``saic_fairseq/modules/compiled_step.py``).

The decoder takes a cache where it takes fairseq's ``incremental_state`` (``SAICDecoder.forward``)
and an image memory as ``memory=`` for full passes, so every caller, call counter and replay
sees one decoder call per step as before.
"""
import torch
import torch.nn.functional as F


class ImageMemory:
    """Cross-attention keys and values of B images for every decoder layer, projected once.

    Attributes:
        keys, values: per layer (B * H, S, d), fairseq ``MultiheadAttention``'s layout.
        mask: (B, S) bool, True at padded regions; None when no region is padded.
    """

    def __init__(self, keys, values, mask, heads):
        self.keys, self.values, self.mask, self.heads = keys, values, mask, heads
        self._dense_mask = mask

    def dense_mask(self):
        """(B, S) bool, True at padded regions: ``mask``, or all False where it is None (made
        once per memory; the same numbers, and one compiled graph whether or not a batch pads
        its regions)."""
        if self._dense_mask is None:
            self._dense_mask = torch.zeros(self.batch, self.keys[0].size(1), dtype=torch.bool,
                                           device=self.keys[0].device)
        return self._dense_mask

    @classmethod
    @torch.no_grad()
    def of(cls, decoder, encoder_out):
        """The memory of an encoder output (S, B, C) for ``decoder`` (a SAICDecoder)."""
        enc = encoder_out["encoder_out"][0]
        masks = encoder_out["encoder_padding_mask"]
        mask = masks[0] if masks else None
        if mask is not None and not bool(mask.any()):  # masking nothing: the same numbers
            mask = None
        src_len, bsz, _ = enc.shape
        keys, values = [], []
        heads = decoder.layers[0].encoder_attn.num_heads
        for layer in decoder.layers:
            attention = layer.encoder_attn
            for proj, out in ((attention.k_proj, keys), (attention.v_proj, values)):
                out.append(proj(enc).view(src_len, bsz * heads, attention.head_dim).transpose(0, 1).contiguous())
        return cls(keys, values, mask, heads)

    @property
    def batch(self):
        return self.keys[0].size(0) // self.heads

    def select(self, rows):
        """The memory of images ``rows`` (R,) long: one row per hypothesis or outline (new
        tensors, not views: a compiled step's graph would guard on the difference)."""
        head_rows = (rows.unsqueeze(1) * self.heads + torch.arange(self.heads, device=rows.device)).view(-1)

        def pick(x):
            return x.index_select(0, head_rows)

        mask = None if self.mask is None else self.mask.index_select(0, rows)
        return ImageMemory([pick(k) for k in self.keys], [pick(v) for v in self.values], mask, self.heads)


class StaticCache:
    """The preallocated state of one left-to-right search over B rows (see the module docstring).

    Args:
        decoder: the SAICDecoder that will read and write it.
        memory: the rows' :class:`ImageMemory` (one per row).
        max_steps: T_max, the most steps the search can take.
    """

    def __init__(self, decoder, memory, max_steps):
        attention = decoder.layers[0].self_attn
        self.memory = self.first_memory = memory
        self.runner = getattr(decoder, "compiled_step", None)  # --compile (modules/compiled_step.py)
        if self.runner is not None:
            max_steps = self.runner.cache_steps(max_steps)
        self.first_shape = [len(decoder.layers), 2, memory.batch, attention.num_heads, max_steps, attention.head_dim]
        self._allocate(self.first_shape)
        self.length = 0

    def _allocate(self, shape):
        """New buffers of ``shape`` (from the runner under ``--compile`` where it takes the shape:
        zeroed, since a full-width step reads every slot, and pooled for CUDA graphs; left
        uninitialised for the eager step, which reads only the slots written)."""
        device, dtype = self.memory.keys[0].device, self.memory.keys[0].dtype
        #: steps of this cache run compiled (--compile, where the runner takes this shape)
        self.compiled = self.runner is not None and self.runner.takes(shape)
        if self.compiled:
            self.self_kv, self.positions = self.runner.cache_buffers(shape, device, dtype)
        else:
            self.self_kv = torch.empty(shape, device=device, dtype=dtype)
            self.positions = torch.zeros(shape[4], dtype=torch.long, device=device)
        self.layers = self.self_kv.unbind(0)  # per-layer (2, B, H, T_max, d) views

    @property
    def batch(self):
        return self.self_kv.size(2)

    @property
    def max_steps(self):
        return self.self_kv.size(4)

    def fresh(self):
        """An empty cache of the rows and memory this one started with (a benchmark's replay
        of the same search, whose rows may since have been reordered or dropped)."""
        cache = StaticCache.__new__(StaticCache)
        cache.memory = cache.first_memory = self.first_memory
        cache.runner, cache.first_shape, cache.length = self.runner, self.first_shape, 0
        cache._allocate(self.first_shape)
        return cache

    def reorder(self, order, images=None):
        """Rows ``order`` (R,) long of the steps so far: one ``index_select`` of the slots
        written, copied back in place (the buffers stay where they are, as CUDA graphs need;
        a batch of another size moves to buffers of its size). ``images``: (R,) the memory rows
        the new rows read, when they change (a search that drops finished sentences); a beam
        reorder within each sentence keeps them."""
        reordered = self.self_kv.narrow(4, 0, self.length).index_select(2, order)
        if reordered.size(2) != self.batch:
            positions = self.positions
            shape = list(self.self_kv.shape)
            shape[2] = reordered.size(2)
            self._allocate(shape)
            self.positions.copy_(positions)
        self.self_kv.narrow(4, 0, self.length).copy_(reordered)
        if images is not None:
            self.memory = self.memory.select(images)


def _linear(module, x):
    return F.linear(x, module.weight, module.bias)


def _norm(module, x):
    """fairseq's LayerNorm (torch's) called as a function: no module-call overhead per step."""
    return F.layer_norm(x, module.normalized_shape, module.weight, module.bias, module.eps)


def _softmax(logits):
    """Softmax over the last dimension computed in float32, back in the logits' dtype (both
    attention modules'); a float32 input goes straight through."""
    if logits.dtype == torch.float32:
        return F.softmax(logits, dim=-1)
    return F.softmax(logits, dim=-1, dtype=torch.float32).to(logits.dtype)


def _cross_attention(attention, x, keys, values, mask):
    """fairseq ``MultiheadAttention`` (encoder-decoder, eval) over precomputed keys and values.

    Args:
        x: (T, B, C) queries; keys, values: (B * H, S, d); mask: (B, S) bool or None.
    Returns:
        (T, B, C)
    """
    tgt_len, bsz, dim = x.shape
    q = _linear(attention.q_proj, x)
    q *= attention.scaling
    q = q.contiguous().view(tgt_len, bsz * attention.num_heads, attention.head_dim).transpose(0, 1)
    weights = torch.bmm(q, keys.transpose(1, 2))
    if mask is not None:
        src_len = keys.size(1)
        weights = weights.view(bsz, -1, attention.num_heads, tgt_len, src_len).masked_fill(
            mask.unsqueeze(1).unsqueeze(2).unsqueeze(3), float("-inf")).view(bsz * attention.num_heads, tgt_len,
                                                                              src_len)
    probs = _softmax(weights)
    out = torch.bmm(probs, values).transpose(0, 1).contiguous().view(tgt_len, bsz, dim)
    return _linear(attention.out_proj, out)


def _feed_forward(layer, x):
    """The layer's feed-forward sublayer with its residual and norm (eval: no dropout)."""
    return _norm(layer.final_layer_norm, x + _linear(layer.fc2, F.relu(_linear(layer.fc1, x))))


def _embed(decoder, tokens, positions):
    """(B, T) tokens at (T,) positions -> (T, B, C) decoder input."""
    return (decoder.embed_scale * F.embedding(tokens, decoder.embed_tokens.weight)
            + decoder.position_table[positions]).transpose(0, 1)


def _self_attention_step(attention, x, kv, slot, keys_end, buckets, key_mask=None):
    """One query step of :class:`RelativeSelfAttention` against cached keys and values.

    Args:
        x: (1, B, C) the step's input; kv: (2, B, H, T_max, d) this layer's cache, where the
        step's own key and value are written at ``slot`` (an int, or a (1,) long tensor for
        the full-width step); keys_end: attend to cache slots [0, keys_end); buckets:
        (B, H, 1, keys_end) relative-distance buckets, or None without relative positions;
        key_mask: optional (keys_end,) additive mask (the full-width step's empty slots).
    Returns:
        (1, B, C)
    """
    bsz, heads, head_dim = x.size(1), attention.num_heads, attention.head_dim
    q, k_and_v = _linear(attention.in_proj, x).view(bsz, 3, heads, 1, head_dim).split((1, 2), dim=1)
    if isinstance(slot, int):
        kv.narrow(3, slot, 1).copy_(k_and_v.transpose(0, 1))
    else:
        kv.index_copy_(3, slot, k_and_v.transpose(0, 1))
    keys, values = kv.narrow(3, 0, keys_end).unbind(0)
    q = q.squeeze(1) * attention.scaling  # (B, H, 1, d)
    logits = torch.matmul(q, keys.transpose(-1, -2))  # (B, H, 1, keys_end)
    if buckets is not None:
        logits = logits + torch.matmul(q, attention.relative_keys.weight.t()).gather(-1, buckets)
    if key_mask is not None:
        logits = logits + key_mask
    probs = _softmax(logits)
    out = torch.matmul(probs, values)
    if buckets is not None:
        bucket_probs = probs.new_zeros(probs.shape[:-1] + (2 * attention.window + 1,))
        bucket_probs.scatter_add_(-1, buckets, probs)
        out = out + torch.matmul(bucket_probs, attention.relative_values.weight)
    return _linear(attention.out_proj, out.view(1, bsz, attention.embed_dim))


def _buckets(decoder, query_position, key_positions, bsz):
    """(B, H, 1, T) relative-distance buckets of one query step, or None (no relative positions)."""
    attention = decoder.layers[0].self_attn
    if not attention.relative:
        return None
    buckets = attention.relative_buckets(query_position, key_positions)  # (1, T)
    return buckets.expand(bsz, attention.num_heads, -1, -1)


def static_step(decoder, cache, tokens, positions, features_only=False):
    """One cached decoder step: (B, 1) newest tokens at (1,) sentence positions -> (B, 1, V)
    logits (decoder states with ``features_only``); the cache grows by one step."""
    t = cache.length
    if t >= cache.max_steps:
        raise ValueError(f"the static cache holds {cache.max_steps} steps; step {t + 1} does not fit")
    if cache.compiled and not features_only:  # --compile
        logits = cache.runner(cache, tokens, positions)
        cache.length = t + 1
        return logits
    cache.positions.narrow(0, t, 1).copy_(positions)
    x = _embed(decoder, tokens, positions)
    buckets = _buckets(decoder, positions, cache.positions[: t + 1], x.size(1))
    memory = cache.memory
    for index, layer in enumerate(decoder.layers):
        x = _norm(layer.self_attn_layer_norm,
                  x + _self_attention_step(layer.self_attn, x, cache.layers[index], t, t + 1, buckets))
        x = _norm(layer.encoder_attn_layer_norm,
                  x + _cross_attention(layer.encoder_attn, x, memory.keys[index], memory.values[index], memory.mask))
        x = _feed_forward(layer, x)
    cache.length = t + 1
    x = x.transpose(0, 1)
    return x if features_only else decoder.output_layer(x)


def full_width_step(decoder, self_kv, cache_positions, memory_keys, memory_values, memory_mask, tokens, step,
                    positions):
    """:func:`static_step` over every one of the T_max cache slots, the empty ones masked: the
    same shapes at every step (``torch.compile``, CUDA graphs). Tensors only, written in place.

    Args:
        self_kv: (L, 2, B, H, T_max, d); cache_positions: (T_max,) long; memory_keys /
        memory_values: per layer (B * H, S, d); memory_mask: (B, S) bool or None;
        tokens: (B, 1); step: (1,) long, the slot of this step; positions: (1,) long.
    Returns:
        (B, 1, V) logits.
    """
    cache_positions.index_copy_(0, step, positions)
    x = _embed(decoder, tokens, positions)
    slots = torch.arange(self_kv.size(4), device=step.device)
    key_mask = torch.zeros(slots.shape, dtype=x.dtype, device=x.device).masked_fill(slots > step, float("-inf"))
    buckets = _buckets(decoder, positions, cache_positions, x.size(1))
    for index, layer in enumerate(decoder.layers):
        x = _norm(layer.self_attn_layer_norm, x + _self_attention_step(layer.self_attn, x, self_kv[index], step,
                                                                       self_kv.size(4), buckets, key_mask))
        x = _norm(layer.encoder_attn_layer_norm,
                  x + _cross_attention(layer.encoder_attn, x, memory_keys[index], memory_values[index], memory_mask))
        x = _feed_forward(layer, x)
    # output_layer's projection, not the method: a benchmark's call counter wraps that on the
    # instance, which a compiled graph would guard on
    return decoder.output_projection(x.transpose(0, 1))


def memory_pass(decoder, memory, tokens, positions, self_attn_mask, features_only=False):
    """A full (uncached) decoder pass whose cross-attention reads ``memory`` instead of
    projecting the image again: (B, T) tokens at (T,) or (B, T) positions -> (B, T, V) logits
    (states with ``features_only``). ``self_attn_mask``: None (bidirectional) or an additive mask.
    Under ``--compile`` on a CPU the layers run compiled (``CompiledStep.full_pass``)."""
    padding_mask = tokens.eq(decoder.padding_idx)
    runner = getattr(decoder, "compiled_step", None)
    if runner is not None and runner.compiles_full_passes:
        x = runner.full_pass(memory, tokens, positions, padding_mask, self_attn_mask)
    else:
        if not bool(padding_mask.any()):  # masking nothing: skip the masking
            padding_mask = None
        x = memory_layers(decoder, memory.keys, memory.values, memory.mask, tokens, positions, padding_mask,
                          self_attn_mask)
    return x if features_only else decoder.output_layer(x)


def memory_layers(decoder, keys, values, memory_mask, tokens, positions, padding_mask, self_attn_mask):
    """The decoder layers of :func:`memory_pass`: (B, T) tokens -> (B, T, C) states; ``keys``,
    ``values``, ``memory_mask``: an ImageMemory's; ``padding_mask``: (B, T) bool or None.
    Tensor operations only, what ``torch.compile`` takes whole."""
    x = _embed(decoder, tokens, positions)
    for index, layer in enumerate(decoder.layers):
        x = _norm(layer.self_attn_layer_norm, x + layer.self_attn(x, positions, padding_mask, self_attn_mask))
        x = _norm(layer.encoder_attn_layer_norm,
                  x + _cross_attention(layer.encoder_attn, x, keys[index], values[index], memory_mask))
        x = _feed_forward(layer, x)
    return x.transpose(0, 1)
