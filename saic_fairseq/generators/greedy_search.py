"""Greedy left-to-right decoding (beam 1) without a beam search's bookkeeping.

fairseq's SequenceGenerator with ``--beam 1`` spends most of a step on bookkeeping (candidate
top-k over 2 x beam, finalisation, batch shrinking) that one hypothesis per sentence does not
need; on a small decoder that costs as much as the decoder call itself. This loop takes the
most probable token at every step with the decoder's incremental cache, under the same rules
as SequenceGenerator (padding never, ``</s>`` not before ``min_len``, ``</s>`` forced at the
length limit, the unknown-word penalty, temperature), so it returns the same tokens and
scores; tests check this against SequenceGenerator token for token.
"""
import torch

from saic_fairseq.modules.outliner_filler_layout import CAUSAL, OutlinerFillerLayout

#: SequenceGenerator options the greedy loop reproduces
GREEDY_OPTIONS = ("min_len", "len_penalty", "normalize_scores", "unk_penalty", "temperature")


def greedy_applies(options):
    """True when a beam-1 search with these SequenceGenerator options needs nothing beyond
    what GreedySearch reproduces (no n-gram blocking, no length limit growing with the input)."""
    return options.get("max_len_a", 0) == 0 and not any(
        value for name, value in options.items() if name not in GREEDY_OPTIONS + ("max_len_a", "max_len_b"))


class GreedySearch:
    """Beam-1 search of one decoder at given sentence positions.

    Args:
        decoder: a SAICDecoder.
        tgt_dict: its dictionary.
        bos: the first input token (``<bog>``).
        positions: ``positions(length, device) -> (length,)`` sentence positions of the steps
            (0, 1, 2, ... for AIC; 0, k, 2k, ... for the Outliner).
        max_len: at most this many tokens before ``</s>``, which is then forced.
        min_len, len_penalty, normalize_scores, unk_penalty, temperature: as in fairseq's
            SequenceGenerator.
    """

    def __init__(self, decoder, tgt_dict, bos, positions, max_len, min_len=1, len_penalty=1.0,
                 normalize_scores=True, unk_penalty=0.0, temperature=1.0):
        if temperature <= 0:
            raise ValueError(f"--temperature must be > 0, got {temperature}")
        self.decoder, self.bos, self.positions = decoder, bos, positions
        self.pad, self.eos, self.unk = tgt_dict.pad(), tgt_dict.eos(), tgt_dict.unk()
        self.max_len, self.min_len = max_len, min_len
        self.len_penalty, self.normalize_scores = len_penalty, normalize_scores
        self.unk_penalty, self.temperature = unk_penalty, temperature

    @torch.no_grad()
    def search(self, encoder_out):
        """Decode every row of ``encoder_out``.

        Returns:
            tokens: (B, T) long, each row ending in ``</s>`` then padding.
            positional_scores: (B, T) float, the log-probability of each token (0 at padding).
            lengths: (B,) long, tokens per row with ``</s>``.
            scores: (B,) float, the hypothesis score (sum / length ** len_penalty when
                normalised, as SequenceGenerator finalises it).
        """
        enc = encoder_out["encoder_out"][0]
        bsz, device = enc.size(1), enc.device
        steps = self.max_len + 1
        tokens = torch.full((bsz, steps + 1), self.pad, dtype=torch.long, device=device)
        tokens[:, 0] = self.bos
        positional = torch.zeros(bsz, steps, device=device)
        lengths = torch.full((bsz,), steps, dtype=torch.long, device=device)
        finished = torch.zeros(bsz, dtype=torch.bool, device=device)
        all_positions = self.positions(steps, device)
        incremental_state = {}
        for step in range(steps):
            logits, _ = self.decoder(tokens[:, : step + 1], encoder_out, incremental_state=incremental_state,
                                     positions=all_positions[: step + 1], self_attn_layout=CAUSAL)
            lprobs = torch.log_softmax(logits[:, -1].float() / self.temperature, dim=-1)
            lprobs[:, self.pad] = float("-inf")
            lprobs[:, self.unk] -= self.unk_penalty
            if step >= self.max_len:
                word = torch.full((bsz,), self.eos, dtype=torch.long, device=device)
            else:
                if step < self.min_len:
                    lprobs[:, self.eos] = float("-inf")
                word = lprobs.argmax(dim=-1)
            score = lprobs.gather(1, word[:, None]).squeeze(1)
            word = word.masked_fill(finished, self.pad)
            tokens[:, step + 1] = word
            positional[:, step] = score.masked_fill(finished, 0.0)
            ended = word.eq(self.eos)
            lengths = torch.where(ended, step + 1, lengths)
            finished |= ended
            if bool(finished.all()):  # the one host synchronisation of a step: stop when all have ended
                break
        width = int(lengths.max())
        tokens, positional = tokens[:, 1 : width + 1], positional[:, :width]
        scores = positional.sum(-1)
        if self.normalize_scores:
            scores = scores / lengths.to(scores) ** self.len_penalty
        return tokens, positional, lengths, scores


def hypotheses(tokens, positional_scores, lengths, scores):
    """fairseq's generator output (one best hypothesis per sentence) from padded search results."""
    return [
        [{"tokens": t[:n], "score": s, "positional_scores": p[:n], "alignment": None, "attention": None,
          "steps": n}]
        for t, p, n, s in zip(tokens, positional_scores, lengths.tolist(), scores)
    ]


class GreedyGenerator:
    """AIC decoding with beam 1, in fairseq's generator contract (``generate(models, sample)``)."""

    def __init__(self, model, tgt_dict, bos, max_len, **options):
        self.model = model
        self.eos = tgt_dict.eos()  # fairseq-generate strips it from printed hypotheses
        self.search = GreedySearch(model.decoder, tgt_dict, bos, OutlinerFillerLayout.positions, max_len, **options)

    @torch.no_grad()
    def generate(self, models, sample, **unused):
        encoder_out = self.model.encoder.forward_torchscript(sample["net_input"])
        return hypotheses(*self.search.search(encoder_out))
