"""One decoder block: relative self-attention, cross-attention to the image, feed-forward."""
import torch.nn.functional as F
from fairseq.modules import LayerNorm, MultiheadAttention
from torch import nn

from saic_fairseq.modules.image_attention_by_rows import image_attention_by_rows
from saic_fairseq.modules.relative_self_attention import RelativeSelfAttention


class SAICDecoderLayer(nn.Module):
    """Post-norm Transformer decoder layer (the paper: each sublayer is followed by the
    residual connection and layer normalisation) whose self-attention uses relative positions.
    """

    def __init__(self, embed_dim, ffn_dim, num_heads, window, dropout, attention_dropout, activation_dropout):
        super().__init__()
        self.dropout = dropout
        self.activation_dropout = activation_dropout
        self.self_attn = RelativeSelfAttention(embed_dim, num_heads, window, dropout=attention_dropout)
        self.self_attn_layer_norm = LayerNorm(embed_dim)
        self.encoder_attn = MultiheadAttention(
            embed_dim, num_heads, dropout=attention_dropout, encoder_decoder_attention=True
        )
        self.encoder_attn_layer_norm = LayerNorm(embed_dim)
        self.fc1 = nn.Linear(embed_dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, embed_dim)
        self.final_layer_norm = LayerNorm(embed_dim)

    def forward(self, x, positions, encoder_out, encoder_padding_mask, self_attn_mask, self_padding_mask,
                incremental_state=None, encoder_rows=None):
        """
        Args:
            x: (T, B, C) decoder states; positions: (T,) or (B, T) sentence positions.
            encoder_out: (S, B, C); encoder_padding_mask: (B, S) bool or None; with
                ``encoder_rows`` (B,) they hold one entry per image instead, and row b reads
                image ``encoder_rows[b]`` (no incremental state).
            self_attn_mask: (T, T) or (B, T, T) additive mask, or None (bidirectional).
            self_padding_mask: (B, T) bool or None.
        Returns:
            (T, B, C)
        """
        residual = x
        x = self.self_attn(x, positions, self_padding_mask, self_attn_mask, incremental_state)
        x = self.self_attn_layer_norm(residual + F.dropout(x, self.dropout, self.training))
        residual = x
        if encoder_rows is not None:
            x = image_attention_by_rows(self.encoder_attn, x, encoder_out, encoder_padding_mask, encoder_rows,
                                        self.training)
        else:
            x, _ = self.encoder_attn(
                query=x, key=encoder_out, value=encoder_out, key_padding_mask=encoder_padding_mask,
                incremental_state=incremental_state, static_kv=True, need_weights=False,
            )
        x = self.encoder_attn_layer_norm(residual + F.dropout(x, self.dropout, self.training))
        residual = x
        x = F.dropout(F.relu(self.fc1(x)), self.activation_dropout, self.training)
        x = self.final_layer_norm(residual + F.dropout(self.fc2(x), self.dropout, self.training))
        return x
