"""The visual encoder: image region (or grid) features -> Transformer encoder states."""
import torch
from fairseq.models import FairseqEncoder
from fairseq.modules import LayerNorm, TransformerEncoderLayer
from torch import nn


class VisualEncoder(FairseqEncoder):
    """Projects R x D features (plus boxes when the model uses them) to the model width and
    runs Transformer encoder layers over them. Regions are a set: no positional embedding.
    """

    def __init__(self, args, feature_dim):
        super().__init__(dictionary=None)
        dim = args.encoder_embed_dim
        self.dropout = args.dropout
        self.feature_proj = nn.Linear(feature_dim, dim)
        # boxes -> (x1, y1, x2, y2, area), all normalised to the image
        self.box_proj = nn.Linear(5, dim) if getattr(args, "use_boxes", False) else None
        self.input_norm = LayerNorm(dim)
        self.layers = nn.ModuleList([TransformerEncoderLayer(args) for _ in range(args.encoder_layers)])

    def forward(self, features, padding_mask=None, boxes=None, **unused):
        """
        Args:
            features: (B, R, D) float; padding_mask: (B, R) bool, True at padded regions.
            boxes: optional (B, R, 4) normalised boxes.
        Returns:
            fairseq's encoder-output dict: ``encoder_out`` [(R, B, C)],
            ``encoder_padding_mask`` [(B, R)].
        """
        if padding_mask is None:
            padding_mask = features.new_zeros(features.shape[:2], dtype=torch.bool)
        compiled = getattr(self, "compiled_states", None)  # --compile (modules/compiled_step.py)
        states = compiled if compiled is not None and not self.training else self.states
        return {
            "encoder_out": [states(features, padding_mask, boxes)],
            "encoder_padding_mask": [padding_mask],
            "encoder_embedding": [],
            "encoder_states": [],
            "src_tokens": [],
            "src_lengths": [],
        }

    def states(self, features, padding_mask, boxes=None):
        """(B, R, D) features, (B, R) bool padding mask, optional (B, R, 4) boxes -> (R, B, C)
        encoder states: tensors only, what ``torch.compile`` takes whole."""
        x = self.feature_proj(features)
        if self.box_proj is not None and boxes is not None:
            area = ((boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])).unsqueeze(-1)
            x = x + self.box_proj(torch.cat([boxes, area], dim=-1))
        x = nn.functional.dropout(self.input_norm(torch.relu(x)), self.dropout, self.training)
        x = x.transpose(0, 1)
        for layer in self.layers:
            x = layer(x, encoder_padding_mask=padding_mask)
        return x

    def reorder_encoder_out(self, encoder_out, new_order):
        """Select / repeat batch rows (beam search, or one row per hypothesis)."""
        return {
            "encoder_out": [encoder_out["encoder_out"][0].index_select(1, new_order)],
            "encoder_padding_mask": [encoder_out["encoder_padding_mask"][0].index_select(0, new_order)],
            "encoder_embedding": [],
            "encoder_states": [],
            "src_tokens": [],
            "src_lengths": [],
        }

    def max_positions(self):
        return int(1e6)
