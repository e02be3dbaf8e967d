"""NAIC and IR-NAIC decoding: predicted length, then mask-predict (Ghazvininejad et al. 2019).

Iteration 1 fills an all-``<mask>`` input of the predicted length in one Filler pass (NAIC);
each further iteration re-masks the n = N * (I - t) / I least confident words and predicts
them again (IR-NAIC, the paper's Table 2 baseline). ``length_beam`` lengths are tried per
image and the best mean log-probability wins. Unless ``--keep-repeats``, a word equal to the
word before it is dropped before the candidates are compared (``repeat_removal.py``).
"""
import torch
import torch.nn.functional as F

from saic_fairseq.generators.greedy_search import refuse_prefix
from saic_fairseq.generators.repeat_removal import compact, repeats
from saic_fairseq.modules.outliner_filler_layout import BIDIRECTIONAL, OutlinerFillerLayout


@torch.no_grad()
def mask_predict(decoder, layout, forbidden, encoder_out, tokens, maskable, iterations, masked=None, memory=None):
    """Fill the ``<mask>``s of ``tokens`` and refine them (Ghazvininejad et al. 2019).

    Args:
        decoder: the SAIC decoder (bidirectional layout, positions 0, 1, 2, ...).
        layout: the OutlinerFillerLayout (its ``<mask>`` index).
        forbidden: indices never predicted (a list, or a long tensor on the tokens' device).
        encoder_out: the encoder's output for the B rows.
        tokens: (B, T) words with ``<mask>`` where a word is to be predicted, padding past
            each row's length.
        maskable: (B, T) bool, the positions that may be predicted again (usually the
            ``<mask>`` positions of the input; words outside it never change).
        iterations: I; iteration t > 1 re-masks the n = |maskable| * (I - t) / I least
            confident maskable words and predicts them again.
        masked: optional (B, T) bool, ``tokens.eq(<mask>)`` when the caller has it already.
        memory: optional ImageMemory of the B rows: every pass reads the image's keys and
            values from it instead of projecting them again (``modules/static_cache.py``).
    Returns:
        (tokens, scores): (B, T) filled tokens and the log-probability of each predicted
        word (0 where the input word was kept).
    """
    def predict(inputs, where):
        """Best word and its log-probability at the positions ``where`` (B, T) (0 / the input
        elsewhere): only those positions go through the output projection."""
        states, _ = decoder(inputs, encoder_out, positions=layout.positions(inputs.size(1), inputs.device),
                            self_attn_layout=BIDIRECTIONAL, features_only=True, memory=memory)
        lprobs = torch.log_softmax(decoder.output_layer(states[where]).float(), dim=-1)
        lprobs.index_fill_(1, forbidden, float("-inf"))
        best_scores, best_words = lprobs.max(dim=-1)
        return (best_scores.new_zeros(inputs.shape).masked_scatter(where, best_scores),
                inputs.masked_scatter(where, best_words))

    forbidden = torch.as_tensor(forbidden, dtype=torch.long, device=tokens.device)
    # the first pass predicts every <mask>; the input words stay, scored 0
    scores, tokens = predict(tokens, tokens.eq(layout.mask) if masked is None else masked)
    if iterations > 1:
        count = maskable.sum(-1).float()
    for step in range(1, iterations):
        n_mask = (count * (iterations - step) / iterations).long()
        rank = scores.masked_fill(~maskable, float("inf")).argsort(dim=-1).argsort(dim=-1)
        remask = rank < n_mask[:, None]
        new_scores, new_tokens = predict(tokens.masked_fill(remask, layout.mask), remask)
        tokens = torch.where(remask, new_tokens, tokens)
        scores = torch.where(remask, new_scores, scores)
    return tokens, scores


def best_candidates(scores, rows, count):
    """(N,) candidate scores and (N,) the sentence of each -> (count,) index of every
    sentence's best candidate (the first one on a tie)."""
    best = scores.new_full((count,), float("-inf")).scatter_reduce(0, rows, scores, "amax")
    winner = scores.eq(best[rows])
    index = torch.arange(scores.numel(), device=scores.device)
    return index.new_full((count,), scores.numel()).scatter_reduce(0, rows[winner], index[winner], "amin")


class MaskPredictGenerator:
    """NAIC (``iterations`` 1) and IR-NAIC decoding of one model; ``static``: every pass reads
    the image's keys and values projected once (an ImageMemory) instead of projecting them again."""

    def __init__(self, model, tgt_dict, layout: OutlinerFillerLayout, forbidden, iterations=1, length_beam=1,
                 max_len=200, drop_repeats=False, static=True):
        if iterations < 1:
            raise ValueError(f"--iterations must be >= 1, got {iterations}")
        self.model, self.tgt_dict, self.layout = model, tgt_dict, layout
        self.eos = layout.eos  # fairseq-generate strips it from printed hypotheses
        self.forbidden = torch.tensor(list(forbidden) + [layout.eos])  # the length is given: no </s> inside
        self.iterations, self.length_beam, self.max_len = iterations, length_beam, max_len
        self.drop_repeats = drop_repeats
        self.static = static

    def mask_predict(self, encoder_out, tokens, maskable, iterations, memory=None):
        """:func:`mask_predict` with this generator's decoder and forbidden words (``memory``:
        the rows' ImageMemory when the caller has it; projected here when static)."""
        self.forbidden = self.forbidden.to(tokens.device)
        if self.static and memory is None:
            memory = self.model.decoder.image_memory(encoder_out)
        return mask_predict(self.model.decoder, self.layout, self.forbidden, encoder_out, tokens, maskable,
                            iterations, memory=memory)

    @torch.no_grad()
    def generate(self, models, sample, prefix_tokens=None, **kwargs):
        refuse_prefix(prefix_tokens, type(self).__name__)
        model, layout, pad = self.model, self.layout, self.tgt_dict.pad()
        encoder_out = model.encoder.forward_torchscript(sample["net_input"])
        # lengths 1 .. max_len, ranked by the length head (its logits rank them as its log-probs do)
        length_logits = model.decoder.length_logits(encoder_out)[:, 1 : self.max_len + 1]
        beam = min(self.length_beam, length_logits.size(1))
        bsz = length_logits.size(0)
        memory = model.decoder.image_memory(encoder_out) if self.static else None  # once per image
        if beam == 1:  # one candidate per image: the rows are the images
            lengths = length_logits.argmax(-1) + 1
            rows = torch.arange(bsz, device=lengths.device)
        else:
            lengths = length_logits.topk(beam, dim=-1).indices.view(-1) + 1  # (B * beam,)
            rows = torch.arange(bsz, device=lengths.device).repeat_interleave(beam)
            if memory is None:
                encoder_out = model.encoder.reorder_encoder_out(encoder_out, rows)
            else:  # the passes read the memory only
                memory = memory.select(rows)
        width = int(lengths.max())
        valid = torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]
        tokens = torch.full(valid.shape, layout.mask, dtype=torch.long, device=lengths.device).masked_fill(~valid, pad)
        tokens, scores = self.mask_predict(encoder_out, tokens, valid, self.iterations, memory)
        if self.drop_repeats:
            dropped = repeats(tokens, valid)
            if bool(dropped.any()):
                lengths = lengths - dropped.sum(-1)
                tokens, scores = compact(~dropped, (tokens, pad), (scores, 0.0))
        mean = scores.sum(-1) / lengths
        best = best_candidates(mean, rows, bsz) if beam > 1 else rows
        # every caption ends in </s>, scored 0 (the length was chosen, not predicted word by word)
        tokens = F.pad(tokens, (0, 1), value=pad).scatter_(1, lengths[:, None], layout.eos)
        scores = F.pad(scores, (0, 1))
        return [[{"tokens": tokens[r, : n + 1], "score": mean[r], "positional_scores": scores[r, : n + 1],
                  "alignment": None, "attention": None, "steps": self.iterations}]
                for r, n in zip(best.tolist(), lengths[best].tolist())]
