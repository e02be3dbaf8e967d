"""Left-to-right sampling or greedy decoding of many captions per image, without gradients:
what self-critical training draws its captions from.

fairseq's SequenceGenerator samples with ``--sampling --beam N``, but after a sample ends it
keeps the finished slot alive and may finalize continuations past its ``</s>``; SCST needs N
independent, complete samples per image, so this small loop draws them with the decoder's
own incremental cache.
"""
import torch

from saic_fairseq.modules.outliner_filler_layout import CAUSAL


@torch.no_grad()
def sample_captions(decoder, encoder_out, bog, eos, pad, max_len, forbidden=(), greedy=False, generator=None):
    """Draw one caption per row of ``encoder_out``.

    Args:
        decoder: a SAICDecoder (AIC layout: causal, positions 0, 1, 2, ...).
        encoder_out: the visual encoder's output for B' rows (repeat rows for several samples).
        bog, eos, pad: the begin, end and padding indices.
        max_len: at most this many tokens per caption, ``</s>`` included.
        forbidden: indices never drawn (padding, ``<bog>``, ``<mask>``).
        greedy: the most probable word at each step instead of a sample.
        generator: optional torch.Generator of the draws.
    Returns:
        (B', L) long tensor: each caption ending in ``</s>``, padded with ``pad``.
    """
    rows = encoder_out["encoder_out"][0].size(1)
    device = encoder_out["encoder_out"][0].device
    tokens = torch.full((rows, 1), bog, dtype=torch.long, device=device)
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    incremental_state = {}
    for step in range(max_len):
        logits, _ = decoder(tokens, encoder_out, incremental_state=incremental_state, self_attn_layout=CAUSAL)
        lprobs = torch.log_softmax(logits[:, -1].float(), dim=-1)
        lprobs[:, list(forbidden)] = float("-inf")
        if step == max_len - 1:
            word = torch.full((rows,), eos, dtype=torch.long, device=device)
        elif greedy:
            word = lprobs.argmax(dim=-1)
        else:
            word = torch.multinomial(lprobs.exp(), 1, generator=generator).view(-1)
        word = word.masked_fill(finished, pad)
        tokens = torch.cat([tokens, word[:, None]], dim=1)
        finished |= word.eq(eos)
        if finished.all():
            break
    return tokens[:, 1:]
