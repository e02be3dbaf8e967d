"""``--compile``: the static-cache decoder step compiled, and on a GPU captured in CUDA graphs.

The step that compiles is :func:`~saic_fairseq.modules.static_cache.full_width_step`: every
one of the cache's T_max slots attended, the empty ones masked, the step index a tensor, so
its shapes depend on the batch only and one compiled graph serves every step.

* CPU: ``torch.compile`` (inductor; it needs a C++ compiler, gcc here). The first call
  compiles (tens of seconds), and once more when the batch size changes (then for any batch
  size: torch's automatic dynamic shapes); later calls run the fused kernels.
* CUDA: the same step captured in a ``torch.cuda.CUDAGraph`` per (batch, T_max, regions)
  and replayed: one launch per step instead of one per operation. A graph reads and writes
  fixed addresses, so the caches it serves come from a pool kept here (one per shape,
  handed to each new search: the graph is reused across steps and calls); a search's reorder
  writes into its cache in place (``StaticCache.reorder``).

``compile_decoder(decoder)`` switches a decoder over; every search on a StaticCache then uses
it (greedy, beam, the Outliner). Full passes (Filler, NAIC, IR-NAIC) keep the eager
``memory=`` pass: one call per caption, whose shapes change with every batch.
"""
import functools

import torch

from saic_fairseq.modules.static_cache import full_width_step


class CompiledStep:
    """The decoder's full-width step under ``torch.compile`` or in CUDA graphs (see above)."""

    def __init__(self, decoder, cuda_graphs=None):
        self.decoder = decoder
        device = next(decoder.parameters()).device
        self.cuda_graphs = device.type == "cuda" if cuda_graphs is None else cuda_graphs
        step = functools.partial(full_width_step, decoder)
        self.step = step if self.cuda_graphs else torch.compile(step)
        self.graphs = {}  # shape -> (graph, static inputs, static logits)
        self.pool = {}  # shape -> the cache buffers the graph of that shape reads and writes

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
        step = torch.full((1,), cache.length, dtype=torch.long, device=tokens.device)
        memory = cache.memory
        if not self.cuda_graphs:
            return self.step(cache.self_kv, cache.positions, memory.keys, memory.values, memory.mask, tokens, step,
                             positions)
        return self._replay(cache, tokens, step, positions)

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


def compile_decoder(decoder, cuda_graphs=None):
    """Make every StaticCache search of ``decoder`` use a :class:`CompiledStep` (``--compile``);
    returns it. ``cuda_graphs``: default on for a decoder on a CUDA device."""
    decoder.compiled_step = CompiledStep(decoder, cuda_graphs)
    return decoder.compiled_step
