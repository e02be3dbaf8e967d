"""Cross-attention to the image when several decoder rows share one image.

A training batch decodes two samples of every sentence (AIC + NAIC, or Outliner + Filler), so
copying the image's encoder states once per row (``reorder_encoder_out``) makes fairseq's
``MultiheadAttention`` project the same keys and values twice: on the bundled model that
projection over 49 regions costs as much as the rest of a decoder row. Here the keys and
values are projected once per image with the module's own weights and then picked per row,
which is the same function (tested against ``MultiheadAttention`` on copied states, values and
gradients).
"""
import torch.nn.functional as F


def image_attention_by_rows(attention, query, encoder_out, encoder_padding_mask, rows, training):
    """fairseq ``MultiheadAttention`` (encoder-decoder, no incremental state) over shared images.

    Args:
        attention: the layer's ``MultiheadAttention`` (its q/k/v/out projections, heads, dropout).
        query: (T, R, C) decoder states.
        encoder_out: (S, B, C) one entry per image; encoder_padding_mask: (B, S) bool or None.
        rows: (R,) long, the image of each decoder row.
        training: apply the attention-probability dropout.
    Returns:
        (T, R, C)
    """
    tgt_len, num_rows, dim = query.shape
    heads = attention.num_heads
    head_dim = dim // heads

    def split(x, length):  # (L, N, C) -> (N, H, L, C / H)
        return x.view(length, -1, heads, head_dim).permute(1, 2, 0, 3)

    src_len = encoder_out.size(0)
    keys = split(attention.k_proj(encoder_out), src_len).index_select(0, rows)
    values = split(attention.v_proj(encoder_out), src_len).index_select(0, rows)
    mask = None
    if encoder_padding_mask is not None:
        mask = ~encoder_padding_mask.index_select(0, rows)[:, None, None, :]  # True: attend
    out = F.scaled_dot_product_attention(split(attention.q_proj(query), tgt_len), keys, values, attn_mask=mask,
                                         dropout_p=attention.dropout_module.p if training else 0.0)
    return attention.out_proj(out.permute(2, 0, 1, 3).reshape(tgt_len, num_rows, dim))
