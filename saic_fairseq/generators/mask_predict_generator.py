"""NAIC and IR-NAIC decoding: predicted length, then mask-predict (Ghazvininejad et al. 2019).

Iteration 1 fills an all-``<mask>`` input of the predicted length in one Filler pass (NAIC);
each further iteration re-masks the n = N * (I - t) / I least confident words and predicts
them again (IR-NAIC, the paper's Table 2 baseline). ``length_beam`` lengths are tried per
image and the best mean log-probability wins.
"""
import torch

from saic_fairseq.models.saic_decoder import BIDIRECTIONAL
from saic_fairseq.modules.outliner_filler_layout import OutlinerFillerLayout


class MaskPredictGenerator:
    def __init__(self, model, tgt_dict, layout: OutlinerFillerLayout, forbidden, iterations=1, length_beam=1,
                 max_len=200):
        if iterations < 1:
            raise ValueError(f"--iterations must be >= 1, got {iterations}")
        self.model, self.tgt_dict, self.layout = model, tgt_dict, layout
        self.eos = layout.eos  # fairseq-generate strips it from printed hypotheses
        self.forbidden = list(forbidden) + [layout.eos]  # the length is given: no </s> inside
        self.iterations, self.length_beam, self.max_len = iterations, length_beam, max_len

    def _predict(self, tokens, encoder_out):
        logits, _ = self.model.decoder(
            tokens, encoder_out, positions=self.layout.positions(tokens.size(1), tokens.device),
            self_attn_layout=BIDIRECTIONAL,
        )
        lprobs = torch.log_softmax(logits.float(), dim=-1)
        lprobs[..., self.forbidden] = float("-inf")
        return lprobs.max(dim=-1)

    @torch.no_grad()
    def generate(self, models, sample, **kwargs):
        model, layout, pad = self.model, self.layout, self.tgt_dict.pad()
        encoder_out = model.encoder.forward_torchscript(sample["net_input"])
        length_lprobs = torch.log_softmax(model.decoder.length_logits(encoder_out).float(), dim=-1)
        length_lprobs[:, 0] = float("-inf")
        length_lprobs[:, self.max_len + 1 :] = float("-inf")
        beam = min(self.length_beam, length_lprobs.size(1) - 1)
        lengths = length_lprobs.topk(beam, dim=-1).indices.view(-1)  # (B * beam,)
        bsz = length_lprobs.size(0)
        rows = torch.arange(bsz, device=lengths.device).repeat_interleave(beam)
        encoder_out = model.encoder.reorder_encoder_out(encoder_out, rows)
        width = int(lengths.max())
        valid = torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]
        tokens = torch.full(valid.shape, layout.mask, dtype=torch.long, device=lengths.device).masked_fill(~valid, pad)
        scores, tokens = self._predict(tokens, encoder_out)
        tokens, scores = tokens.masked_fill(~valid, pad), scores.masked_fill(~valid, 0.0)
        for step in range(1, self.iterations):
            n_mask = (lengths.float() * (self.iterations - step) / self.iterations).long()
            confidence = scores.masked_fill(~valid, float("inf"))
            rank = confidence.argsort(dim=-1).argsort(dim=-1)
            remask = rank < n_mask[:, None]
            new_scores, new_tokens = self._predict(tokens.masked_fill(remask, layout.mask), encoder_out)
            tokens = torch.where(remask, new_tokens, tokens)
            scores = torch.where(remask, new_scores, scores)
        mean = scores.sum(-1) / lengths
        best = mean.view(bsz, beam).argmax(-1) + torch.arange(bsz, device=mean.device) * beam
        results = []
        for r in best.tolist():
            n = int(lengths[r])
            results.append([{
                "tokens": torch.cat([tokens[r, :n], tokens.new_tensor([layout.eos])]),
                "score": mean[r],
                "positional_scores": torch.cat([scores[r, :n], scores.new_zeros(1)]),
                "alignment": None,
                "attention": None,
                "steps": self.iterations,
            }])
        return results
