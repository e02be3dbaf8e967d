"""SAIC decoding (paper Sec. 4.3): Outliner beam search, then one batched Filler pass.

1. Encode the images once.
2. Outliner: fairseq's beam search (beam M_out, incremental cached decoding) over the
   group-first words until ``</s>``.
3. Filler: the top M_fill outlines of every image, each word followed by k - 1 ``<mask>``s,
   filled in one bidirectional pass for the whole batch (hypotheses of any length).
4. Score (eq. 10): Outliner log-probs + Filler log-probs at the ``<mask>`` positions kept in
   the caption, normalised like fairseq's beam search (sum / length ** lenpen); cut at the
   first ``</s>``; the best-scoring hypothesis comes first.

With k = 1 the Filler has nothing to fill and the result is exactly AIC's.
"""
import math

import torch
from fairseq.data import data_utils

from saic_fairseq.generators.aic_generator import AICSequenceGenerator
from saic_fairseq.generators.outliner_model import OutlinerModel
from saic_fairseq.models.saic_decoder import BIDIRECTIONAL
from saic_fairseq.modules.outliner_filler_layout import OutlinerFillerLayout


def never_generated(tgt_dict, layout, also=()):
    """Indices a decoder must never output: padding, ``<bog>``, ``<mask>`` (+ ``also``)."""
    return [tgt_dict.pad(), layout.bog, layout.mask, *also]


class SAICGenerator:
    """Outliner + Filler decoding of one ``saic_transformer`` model."""

    def __init__(self, model, tgt_dict, layout: OutlinerFillerLayout, outline_beam=1, fill_beam=1,
                 max_len=200, len_penalty=1.0, normalize_scores=True, **search_kwargs):
        if fill_beam > outline_beam:
            raise ValueError(f"--fill-beam ({fill_beam}) must not exceed --outline-beam ({outline_beam})")
        self.model = model
        self.tgt_dict = tgt_dict
        self.layout = layout
        self.eos = layout.eos  # fairseq-generate strips it from printed hypotheses
        self.fill_beam = fill_beam
        self.len_penalty = len_penalty
        self.normalize_scores = normalize_scores
        self.outliner = OutlinerModel(model, layout.k)
        self.search = AICSequenceGenerator(
            [self.outliner], tgt_dict, layout.bog, beam_size=outline_beam, max_len_a=0,
            max_len_b=math.ceil(max_len / layout.k) + 1, len_penalty=len_penalty,
            normalize_scores=normalize_scores, **search_kwargs,
        )
        self.forbidden = never_generated(tgt_dict, layout)

    @torch.no_grad()
    def generate(self, models, sample, **kwargs):
        """fairseq's generator contract: per sentence, a list of hypothesis dicts, best first."""
        net_input = sample["net_input"]
        encoder_out = self.model.encoder.forward_torchscript(net_input)
        self.outliner.encoder.encoder_out = encoder_out
        try:
            outlines = self.search.generate([self.outliner], sample, **kwargs)
        finally:
            self.outliner.encoder.encoder_out = None
        chosen = [(i, hypo) for i, hypos in enumerate(outlines) for hypo in hypos[: self.fill_beam]]
        filled = self.fill(encoder_out, chosen)
        results = [[] for _ in outlines]
        for (i, _), hypo in zip(chosen, filled):
            results[i].append(hypo)
        return [sorted(hypos, key=lambda h: -h["score"]) for hypos in results]

    def fill(self, encoder_out, chosen):
        """Fill the outlines ``[(sentence index, outline hypo)]`` in one decoder pass."""
        layout = self.layout
        inputs = [layout.filler_input(hypo["tokens"][:-1]) for _, hypo in chosen]
        width = max(t.numel() for t in inputs)
        if not any(t.eq(layout.mask).any() for t in inputs):  # k = 1, or only empty outlines
            return [self._finish(hypo, None, None, None) for _, hypo in chosen]
        batch = data_utils.collate_tokens(inputs, self.tgt_dict.pad())
        rows = torch.tensor([i for i, _ in chosen], device=batch.device)
        logits, _ = self.model.decoder(
            batch, self.model.encoder.reorder_encoder_out(encoder_out, rows),
            positions=layout.positions(width, batch.device), self_attn_layout=BIDIRECTIONAL,
        )
        lprobs = torch.log_softmax(logits.float(), dim=-1)
        lprobs[..., self.forbidden] = float("-inf")
        fill_scores, fill_tokens = lprobs.max(dim=-1)
        return [
            self._finish(hypo, fill_tokens[r, : inputs[r].numel()], fill_scores[r, : inputs[r].numel()], inputs[r])
            for r, (_, hypo) in enumerate(chosen)
        ]

    def _finish(self, outline, fill_tokens, fill_scores, filler_input):
        """Merge an outline with its Filler output into one fairseq hypothesis dict."""
        layout, eos = self.layout, self.layout.eos
        outline_scores = outline["positional_scores"]
        n_out = outline_scores.numel()
        if filler_input is None:
            tokens, scores = outline["tokens"][:-1], outline_scores[:-1]
            is_mask = torch.zeros_like(tokens, dtype=torch.bool)
        else:
            is_mask = filler_input.eq(layout.mask)
            tokens = torch.where(is_mask, fill_tokens, filler_input)
            scores = torch.zeros_like(fill_scores)
            scores[is_mask] = fill_scores[is_mask]
            scores[~is_mask] = outline_scores[:-1]
        tokens = torch.cat([tokens, tokens.new_tensor([eos])])
        scores = torch.cat([scores, outline_scores[-1:]])
        is_mask = torch.cat([is_mask, is_mask.new_zeros(1)])
        cut = int(tokens.eq(eos).nonzero()[0])
        tokens, scores, is_mask = tokens[: cut + 1], scores[: cut + 1], is_mask[: cut + 1]
        filler_sum = scores[is_mask].sum().item()
        n_terms = n_out + int(is_mask.sum())
        if self.normalize_scores:
            score = outline["score"] * (n_out / n_terms) ** self.len_penalty + filler_sum / n_terms**self.len_penalty
        else:
            score = outline["score"] + filler_sum
        return {
            "tokens": tokens,
            "score": score if torch.is_tensor(score) else torch.tensor(score),
            "positional_scores": scores.clone(),
            "alignment": None,
            "attention": None,
            "steps": n_out + (1 if filler_input is not None else 0),
        }
