"""The one SAIC decoder that plays AIC, NAIC, Outliner and Filler (shared parameters)."""
import math

import torch
import torch.nn.functional as F
from fairseq.models import FairseqIncrementalDecoder
from fairseq.modules import SinusoidalPositionalEmbedding
from torch import nn

from saic_fairseq.modules.outliner_filler_layout import BIDIRECTIONAL, CAUSAL
from saic_fairseq.modules.saic_decoder_layer import SAICDecoderLayer
from saic_fairseq.modules.static_cache import ImageMemory, StaticCache, memory_pass, static_step


def self_attention_mask(layout, tgt_len, cached, like):
    """The additive (T, T) self-attention mask of ``layout`` ("causal", "bidirectional" or a
    mask given as is) for ``tgt_len`` queries, None where nothing is masked: bidirectional, or
    causal with a cache (the one new query sees every cached key). ``like``: a tensor of the
    model's dtype and device."""
    if isinstance(layout, torch.Tensor):
        return layout
    if layout == CAUSAL and not cached:
        return torch.triu(like.new_full((tgt_len, tgt_len), float("-inf")), 1)
    if layout in (CAUSAL, BIDIRECTIONAL):
        return None
    raise ValueError(f"unknown self-attention layout {layout!r}")


class SAICDecoder(FairseqIncrementalDecoder):
    """Transformer decoder with relative-position self-attention and a length head.

    What the caller decides, per call: the sentence ``positions`` of the input tokens
    (0, 1, 2, ... by default; 0, k, 2k, ... for the Outliner), shared by the batch or one row
    per sentence, and the self-attention layout (``"causal"``, ``"bidirectional"``, or an
    explicit additive mask, shared or per sentence). Per-sentence positions and masks let
    training run AIC, NAIC, Outliner and Filler samples as one batch in one pass.
    """

    def __init__(self, args, dictionary, embed_tokens):
        super().__init__(dictionary)
        dim = args.decoder_embed_dim
        self.padding_idx = dictionary.pad()
        self.dropout = args.dropout
        self.max_target_positions = args.max_target_positions
        self.embed_tokens = embed_tokens
        self.embed_scale = math.sqrt(dim)
        # sinusoidal: any sentence position (the Outliner's appended </s> sits past the end)
        self.register_buffer(
            "position_table",
            SinusoidalPositionalEmbedding.get_embedding(args.max_target_positions + 64, dim),
            persistent=False,
        )
        window = None if getattr(args, "no_relative_positions", False) else args.relative_window
        self.layers = nn.ModuleList(
            [
                SAICDecoderLayer(
                    dim, args.decoder_ffn_embed_dim, args.decoder_attention_heads, window,
                    args.dropout, args.attention_dropout, args.activation_dropout,
                )
                for _ in range(args.decoder_layers)
            ]
        )
        self.output_projection = nn.Linear(dim, len(dictionary), bias=False)
        self.output_projection.weight = embed_tokens.weight
        # length head for NAIC / IR-NAIC: mean-pooled image states -> number of words
        self.length_head = nn.Linear(dim, args.max_target_positions + 1)

    def forward(self, prev_output_tokens, encoder_out=None, incremental_state=None, positions=None,
                self_attn_layout=CAUSAL, features_only=False, encoder_rows=None, memory=None, **unused):
        """
        Args:
            prev_output_tokens: (B, T) input tokens (with a cache: every step so far, or only
                the newest).
            encoder_out: the visual encoder's output dict.
            incremental_state: fairseq's cache dictionary, or a ``StaticCache``
                (``modules/static_cache.py``: the same step without dictionaries; causal only).
            positions: (T,) or (B, T) sentence positions of ``prev_output_tokens``; default 0..T-1.
            self_attn_layout: "causal", "bidirectional", or a (T, T) or (B, T, T) additive mask.
            encoder_rows: optional (B,) long, without a cache: ``encoder_out`` holds one entry
                per image and row b reads image ``encoder_rows[b]`` (the image's keys and values
                are projected once however many rows share it: training's two samples per
                sentence).
            memory: optional ``ImageMemory`` of the rows, without a cache: the cross-attention
                reads its precomputed keys and values instead of projecting ``encoder_out``.
        Returns:
            ((B, T', V) logits, {"attn": None}); T' = 1 with a cache, else T.
        """
        if positions is None:
            positions = torch.arange(prev_output_tokens.size(1), device=prev_output_tokens.device)
        if isinstance(incremental_state, StaticCache):
            if positions.dim() != 1 or self_attn_layout != CAUSAL:
                raise ValueError("a StaticCache decodes left to right at positions shared by the batch")
            return static_step(self, incremental_state, prev_output_tokens[:, -1:], positions[-1:],
                               features_only), {"attn": None}
        if memory is not None:
            if incremental_state is not None or encoder_rows is not None:
                raise ValueError("memory= goes with full passes, without a cache or encoder_rows")
            attn_mask = self_attention_mask(self_attn_layout, prev_output_tokens.size(1), False, self.position_table)
            return memory_pass(self, memory, prev_output_tokens, positions, attn_mask, features_only), {"attn": None}
        if incremental_state is not None:
            prev_output_tokens, positions = prev_output_tokens[:, -1:], positions[..., -1:]
        x = self.embed_scale * self.embed_tokens(prev_output_tokens) + self.position_table[positions]
        x = F.dropout(x, self.dropout, self.training).transpose(0, 1)
        tgt_len = x.size(0)
        padding_mask = prev_output_tokens.eq(self.padding_idx)
        if incremental_state is not None or not padding_mask.any():
            padding_mask = None
        attn_mask = self_attention_mask(self_attn_layout, tgt_len, incremental_state is not None, x)
        enc = encoder_out["encoder_out"][0]
        enc_mask = encoder_out["encoder_padding_mask"][0] if encoder_out["encoder_padding_mask"] else None
        if encoder_rows is not None:
            if incremental_state is not None:
                raise ValueError("encoder_rows goes with full passes, not with an incremental cache")
            images, encoder_rows = torch.unique(encoder_rows, return_inverse=True)  # only the images read
            if images.numel() < enc.size(1):
                enc = enc.index_select(1, images)
                enc_mask = None if enc_mask is None else enc_mask.index_select(0, images)
            if enc_mask is not None and not enc_mask.any():
                enc_mask = None
        for layer in self.layers:
            x = layer(x, positions, enc, enc_mask, attn_mask, padding_mask, incremental_state, encoder_rows)
        x = x.transpose(0, 1)
        if features_only:
            return x, {"attn": None}
        return self.output_layer(x), {"attn": None}

    def output_layer(self, features):
        """(..., C) decoder states -> (..., V) logits (the projection tied to the embeddings)."""
        return self.output_projection(features)

    def image_memory(self, encoder_out):
        """The ImageMemory of ``encoder_out``: every layer's cross-attention keys and values,
        projected once (a StaticCache's and the ``memory=`` full passes')."""
        return ImageMemory.of(self, encoder_out)

    def length_logits(self, encoder_out):
        """(B, max_target_positions + 1) logits over the number of caption words."""
        enc = encoder_out["encoder_out"][0]  # (S, B, C)
        keep = (~encoder_out["encoder_padding_mask"][0]).t().unsqueeze(-1).type_as(enc)
        pooled = (enc * keep).sum(0) / keep.sum(0).clamp(min=1)
        return self.length_head(pooled)

    def set_beam_size(self, beam_size):
        """Deliberately not passed on to the cross-attention modules: with a beam size set,
        fairseq's MultiheadAttention assumes every batch is grouped beam by beam, which the
        Filler's batches (top M_fill of M_out outlines) are not. Caching cross-attention keys
        per hypothesis instead costs little memory and keeps every decoding path exact."""

    def max_positions(self):
        return self.max_target_positions
