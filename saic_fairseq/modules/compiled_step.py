"""``--compile``: the static-cache decoder step compiled, and on a GPU captured in CUDA graphs.

The step that compiles is :func:`~saic_fairseq.modules.static_cache.full_width_step`: every
one of the cache's T_max slots attended, the empty ones masked, the step index a tensor, so
its shapes depend on the batch only and one compiled graph serves every step.

* CPU: ``torch.compile`` (inductor; it needs a C++ compiler, gcc here) with inductor's C++
  wrapper (``cpp_wrapper``): the generated kernels are called from C++, not from a Python
  function with one call per kernel, which at batch 1 is most of what compiling saves. The
  first call compiles (tens of seconds), and once more when a size changes (the batch, the
  number of regions, T_max): the size that changed is then compiled as dynamic, torch's
  automatic dynamic shapes, so a handful of compilations serve every later call. T_max is
  rounded up to a power of two (:meth:`CompiledStep.cache_steps`) and the step's tokens and
  positions passed as fresh tensors, so that searches of different lengths share graphs. A
  large batch keeps the eager static step (:meth:`CompiledStep.takes`): the full-width step
  attends every slot, which at batch 1 costs little and at beam 5 x 64 slots of
  ``saic_medium`` more than the launches it saves.
* CUDA: the same step captured in a ``torch.cuda.CUDAGraph`` per (batch, T_max, regions)
  and replayed: one launch per step instead of one per operation. A graph reads and writes
  fixed addresses, so the caches it serves come from a pool kept here (one per shape,
  handed to each new search: the graph is reused across steps and calls); a search's reorder
  writes into its cache in place (``StaticCache.reorder``).

``compile_model(model)`` switches a model over; every search on a StaticCache then uses the
compiled step (greedy, beam, the Outliner). On a CPU the full passes that read an image memory
(the Filler, NAIC, IR-NAIC: :func:`~saic_fairseq.modules.static_cache.memory_layers`) are
compiled too, with dynamic shapes from the start (their batch and length change with every
call), their optional masks always passed as tensors (a mask of nothing: the same numbers) so
that one graph serves them all, and so are the visual encoder's tensor work
(:meth:`~saic_fairseq.models.visual_encoder.VisualEncoder.states`: a fixed cost of every mode,
once per batch) and what a search asks of :meth:`CompiledStep.compiled_function` (SAIC's eq. 10
merge); on a GPU they stay eager, since a CUDA graph needs one fixed shape. On a CPU the step
also decomposes one-row matrix products into generated loops (:data:`STEP_OPTIONS`): every
projection of a greedy step at batch 1.
"""
import functools

import torch

from saic_fairseq.modules.static_cache import full_width_step, memory_layers

#: inductor's options on a CPU: kernels called from generated C++ rather than Python (the demo's
#: step at batch 1, timed alone: 0.38-0.42x fairseq's incremental step with it, 0.46-0.53x without)
CPU_OPTIONS = {"cpp_wrapper": True}
#: the cached step's: also inductor's decomposition of a one-row matrix product (inner dimensions
#: up to 2,048) into generated C++ loops fused with their neighbours instead of a BLAS call each:
#: a greedy step at batch 1 (every projection one row) took 198 us against 298 without it;
#: larger batches keep their BLAS calls (beam 5: no change)
STEP_OPTIONS = {**CPU_OPTIONS, "post_grad_fusion_options": {"decompose_mm_pass": {}}}
#: layers x rows x heads x T_max of the largest cache whose steps run compiled on a CPU: the
#: attention the full-width step computes over every slot, written or not, where the eager static
#: step attends only the slots written. Measured (docs/speed.md): compiled faster at 384-6,400
#: (saic_small 50 rows x 16 slots 0.83x, saic_medium 2 x 64 0.82x), slower at 7,680 (saic_medium
#: beam 5 x 64 slots 1.21x) and beyond (saic_small 250 x 64 2.4x)
CPU_MAX_CELLS = 6400


class CompiledStep:
    """The decoder's full-width step under ``torch.compile`` or in CUDA graphs (see above)."""

    def __init__(self, decoder, cuda_graphs=None):
        self.decoder = decoder
        device = next(decoder.parameters()).device
        self.cuda_graphs = device.type == "cuda" if cuda_graphs is None else cuda_graphs
        # the functions themselves, the decoder an argument (not a functools.partial: every
        # partial runs through one wrapper whose compilations would all share one cache)
        step = full_width_step if self.cuda_graphs else torch.compile(full_width_step, options=STEP_OPTIONS)
        self.step = functools.partial(step, decoder)
        if not self.cuda_graphs:  # full passes compiled too (CPU only: see above)
            self._full_pass = functools.partial(torch.compile(memory_layers, dynamic=True, options=CPU_OPTIONS),
                                                decoder)
        self.graphs = {}  # shape -> (graph, static inputs, static logits)
        self.step_indices = {}  # (slot, device) -> (1,) long: made once, read-only
        self.pool = {}  # shape -> the cache buffers the graph of that shape reads and writes

    @property
    def compiles_full_passes(self):
        """Whether :meth:`full_pass` serves the memory passes (on a CPU, not with CUDA graphs)."""
        return not self.cuda_graphs

    def compiled_function(self, function):
        """``function`` (tensors in, tensors out: a search's own tensor work around the decoder
        calls) compiled with dynamic shapes on a CPU, its kernels called from Python (small
        element-wise kernels over dynamic shapes: the SAIC merge at batch 1 took 49 us so, 101 us
        with the C++ wrapper, 154 us eager); as it is with CUDA graphs."""
        if self.cuda_graphs:
            return function
        return torch.compile(function, dynamic=True)

    @staticmethod
    def cache_steps(steps):
        """T_max of a search's cache: ``steps`` rounded up to a power of two, at least 16 (the
        extra slots are masked, as every empty slot is; fewer shapes, fewer compilations)."""
        return max(16, 1 << (steps - 1).bit_length())

    def takes(self, shape):
        """Whether a cache of ``shape`` (L, 2, B, H, T_max, d) steps compiled: always with CUDA
        graphs; on a CPU while L x B x H x T_max <= :data:`CPU_MAX_CELLS`."""
        layers, _, rows, heads, slots, _ = shape
        return self.cuda_graphs or layers * rows * heads * slots <= CPU_MAX_CELLS

    def cache_buffers(self, shape, device, dtype):
        """(self_kv, positions) for a new StaticCache of ``shape`` (L, 2, B, H, T, d): fixed
        buffers from the pool with CUDA graphs (zeroed), new ones otherwise."""
        if not self.cuda_graphs:
            return (torch.zeros(shape, device=device, dtype=dtype),
                    torch.zeros(shape[4], dtype=torch.long, device=device))
        key = (tuple(shape), str(device), dtype)
        if key not in self.pool:
            self.pool[key] = (torch.zeros(shape, device=device, dtype=dtype),
                              torch.zeros(shape[4], dtype=torch.long, device=device))
        self_kv, positions = self.pool[key]
        self_kv.zero_()
        positions.zero_()
        return self_kv, positions

    def __call__(self, cache, tokens, positions):
        """One step of ``cache`` for (B, 1) ``tokens`` at (1,) ``positions`` -> (B, 1, V) logits."""
        step = self._step_index(cache.length, tokens.device)
        memory = cache.memory
        if not self.cuda_graphs:  # fresh tensors (not views or slices), masks as tensors: few graphs
            return self.step(cache.self_kv, cache.positions, memory.keys, memory.values, memory.dense_mask(),
                             tokens.clone(memory_format=torch.contiguous_format), step, positions.clone())
        return self._replay(cache, tokens, step, positions)

    def _step_index(self, slot, device):
        """(1,) long ``slot``: the step's slot as a tensor, one per slot and device, reused (the
        compiled step and the graphs only read it)."""
        key = (slot, device)
        if key not in self.step_indices:
            self.step_indices[key] = torch.full((1,), slot, dtype=torch.long, device=device)
        return self.step_indices[key]

    def full_pass(self, memory, tokens, positions, padding_mask, self_attn_mask):
        """``memory_layers`` compiled (CPU): (B, T) tokens -> (B, T, C) states. ``padding_mask``
        (B, T) bool and the image memory's mask are passed even where they mask nothing, and a
        bidirectional ``self_attn_mask`` (None) as zeros: one graph for every call."""
        memory_mask = memory.dense_mask()
        if self_attn_mask is None:
            length = tokens.size(1)
            self_attn_mask = torch.zeros(length, length, dtype=memory.keys[0].dtype, device=tokens.device)
        return self._full_pass(memory.keys, memory.values, memory_mask, tokens, positions, padding_mask,
                               self_attn_mask)

    def _replay(self, cache, tokens, step, positions):
        """Copy the step's inputs into the graph's static tensors and replay it (capture first)."""
        memory = cache.memory
        key = (tuple(cache.self_kv.shape), memory.keys[0].shape, memory.mask is not None, cache.self_kv.data_ptr())
        if key not in self.graphs:
            static = {"keys": [k.clone() for k in memory.keys], "values": [v.clone() for v in memory.values],
                      "mask": None if memory.mask is None else memory.mask.clone(), "tokens": tokens.clone(),
                      "step": step.clone(), "positions": positions.clone()}
            args = (cache.self_kv, cache.positions, static["keys"], static["values"], static["mask"], static["tokens"],
                    static["step"], static["positions"])
            saved = cache.self_kv.clone(), cache.positions.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm up outside the graph, as CUDA graphs require
                self.step(*args)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                logits = self.step(*args)
            cache.self_kv.copy_(saved[0])  # the warm-up and capture wrote a step: undo it
            cache.positions.copy_(saved[1])
            self.graphs[key] = (graph, static, logits)
        graph, static, logits = self.graphs[key]
        for name, value in (("tokens", tokens), ("step", step), ("positions", positions)):
            static[name].copy_(value)
        if static.get("memory") is not memory:  # a new search: its image's keys and values
            for target, source in zip(static["keys"] + static["values"], memory.keys + memory.values):
                target.copy_(source)
            if memory.mask is not None:
                static["mask"].copy_(memory.mask)
            static["memory"] = memory
        graph.replay()
        return logits.clone()


def compile_model(model, cuda_graphs=None):
    """``--compile``: every StaticCache search of ``model``'s decoder uses a :class:`CompiledStep`,
    and without CUDA graphs (a CPU) its encoder's :meth:`states` run compiled too. Returns the
    step. ``cuda_graphs``: default on for a decoder on a CUDA device."""
    decoder = model.decoder
    decoder.compiled_step = CompiledStep(decoder, cuda_graphs)
    if not decoder.compiled_step.cuda_graphs and hasattr(model.encoder, "states"):
        model.encoder.compiled_states = torch.compile(model.encoder.states, options=CPU_OPTIONS)
    return decoder.compiled_step
