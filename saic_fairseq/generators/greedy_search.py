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
from saic_fairseq.modules.static_cache import StaticCache

#: SequenceGenerator options our searches (this greedy loop, ``beam_search.BeamSearch``) reproduce
SEARCH_OPTIONS = ("min_len", "len_penalty", "normalize_scores", "unk_penalty", "temperature")


def search_applies(options):
    """True when a search with these SequenceGenerator options needs nothing beyond what our
    searches reproduce (no n-gram blocking, no length limit growing with the input)."""
    return options.get("max_len_a", 0) == 0 and not any(
        value for name, value in options.items() if name not in SEARCH_OPTIONS + ("max_len_a", "max_len_b"))


def refuse_prefix(prefix_tokens, generator):
    """Our searches start every caption at ``<bog>``: a caller's forced first words
    (fairseq-generate's ``--prefix-size``) are refused by name, never silently dropped."""
    if prefix_tokens is not None:
        raise ValueError(f"{generator} does not force prefix tokens: only a generator built with --prefix-size "
                         "and --decoding aic (fairseq's SequenceGenerator) forces a caption's first words")


def step_biases(cached, vocab, pad, unk, eos, unk_penalty, device):
    """Three (V,) additive log-probability adjustments of a search step, as SequenceGenerator
    applies them: padding never, the unknown-word penalty; the second also forbids ``</s>`` (the
    steps before ``min_len``); the third forbids everything but ``</s>`` (the step at the length
    limit). ``cached``: the triple from an earlier call, reused on its device."""
    if cached is not None and cached[0].device == torch.device(device):
        return cached
    bias = torch.zeros(vocab, device=device)
    bias[pad] = float("-inf")
    bias[unk] -= unk_penalty
    before_min_len = bias.clone()
    before_min_len[eos] = float("-inf")
    eos_only = torch.full_like(bias, float("-inf"))
    eos_only[eos] = bias[eos]
    return bias, before_min_len, eos_only


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
        static: decode on a StaticCache (``modules/static_cache.py``) rather than fairseq's
            incremental-state dictionary: the same numbers, less bookkeeping per step.
    """

    def __init__(self, decoder, tgt_dict, bos, positions, max_len, min_len=1, len_penalty=1.0,
                 normalize_scores=True, unk_penalty=0.0, temperature=1.0, static=True):
        if temperature <= 0:
            raise ValueError(f"--temperature must be > 0, got {temperature}")
        self.decoder, self.bos, self.positions = decoder, bos, positions
        self.pad, self.eos, self.unk = tgt_dict.pad(), tgt_dict.eos(), tgt_dict.unk()
        self.max_len, self.min_len = max_len, min_len
        self.len_penalty, self.normalize_scores = len_penalty, normalize_scores
        self.unk_penalty, self.temperature = unk_penalty, temperature
        self.static = static
        self._bias = None

    @torch.no_grad()
    def search(self, encoder_out, word_counts=None, memory=None):
        """Decode every row of ``encoder_out``.

        Args:
            word_counts: optional (B,) long, at most this many words per row: a row that has
                not ended by then gets ``</s>`` (log-probability 0) without another decoder
                call, so a batch whose rows all reach their count makes no ``</s>`` step.
            memory: the rows' ImageMemory when the caller has it already (static only).
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
        count_steps = ()
        if word_counts is not None:
            word_counts = word_counts.clamp(max=self.max_len)
            count_steps = set(word_counts.tolist())  # the steps at which some row reaches its count
            steps = min(steps, max(count_steps) + 1)
        self._bias = step_biases(self._bias, len(self.decoder.dictionary), self.pad, self.unk, self.eos,
                                 self.unk_penalty, device)
        bias, bias_before_min_len, _ = self._bias
        words, positional = [], []
        word = torch.full((bsz,), self.bos, dtype=torch.long, device=device)
        finished = torch.zeros(bsz, dtype=torch.bool, device=device)
        n_finished = 0
        all_positions = self.positions(steps, device)
        if self.static:
            memory = self.decoder.image_memory(encoder_out) if memory is None else memory
            incremental_state = StaticCache(self.decoder, memory, steps)
        else:
            incremental_state = {}
        for step in range(steps):
            if word_counts is not None and step == steps - 1:  # every open row has reached its count
                words.append(torch.where(finished, self.pad, self.eos))
                positional.append(torch.zeros(bsz, device=device))
                break
            # with a cache the decoder reads only the newest token and its position
            logits, _ = self.decoder(word[:, None], encoder_out, incremental_state=incremental_state,
                                     positions=all_positions[step : step + 1], self_attn_layout=CAUSAL)
            logits = logits[:, -1].float()
            if self.temperature != 1:
                logits = logits / self.temperature
            lprobs = torch.log_softmax(logits, dim=-1) + (bias_before_min_len if step < self.min_len else bias)
            if step >= self.max_len:
                word = torch.full((bsz,), self.eos, dtype=torch.long, device=device)
                score = lprobs[:, self.eos]
            else:
                score, word = lprobs.max(dim=-1)
            if step in count_steps:  # rows that reach their count end here, </s> scored 0
                counted = word_counts.eq(step)
                word, score = word.masked_fill(counted, self.eos), score.masked_fill(counted, 0.0)
            if n_finished:  # rows that have ended are padded
                word, score = word.masked_fill(finished, self.pad), score.masked_fill(finished, 0.0)
            words.append(word)
            positional.append(score)
            finished |= word.eq(self.eos)
            n_finished = int(finished.sum())  # the one host synchronisation of a step
            if n_finished == bsz:
                break
        tokens, positional = torch.stack(words, 1), torch.stack(positional, 1)
        lengths = tokens.ne(self.pad).sum(-1)  # every row ends in exactly one </s>, then padding
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
    def generate(self, models, sample, prefix_tokens=None, **unused):
        refuse_prefix(prefix_tokens, type(self).__name__)
        encoder_out = self.model.encoder.forward_torchscript(sample["net_input"])
        return hypotheses(*self.search.search(encoder_out))
