"""SAIC decoding (paper Sec. 4.3): Outliner search, then one batched Filler pass.

1. Encode the images once.
2. Outliner: the group-first words until ``</s>``, left to right with the decoder's cache at
   sentence positions 0, k, 2k, ...: fairseq's beam search for M_out > 1, the greedy loop
   (same hypotheses, none of a beam search's bookkeeping) for M_out = 1. Beyond the paper,
   with M_out = 1 and ``--outline-length length-head`` (the default) the greedy Outliner
   writes at most ceil(N / k) words, N the length head's most probable caption length
   (summed per group count), and makes no decoder call for the ``</s>`` after them: one call
   fewer per caption; where the Filler ends the caption is unchanged (``eos``: the paper).
3. Filler: the top M_fill outlines of every image, each word followed by k - 1 ``<mask>``s,
   filled in one bidirectional pass over all B x M_fill outlines at once (padded). Beyond
   the paper, ``--fill-iterations r`` adds r mask-predict passes that re-mask and re-predict
   the least confident filled words; the outline words never change (0: the paper's SAIC).
4. Score (eq. 10): Outliner log-probs + Filler log-probs at the ``<mask>`` positions kept in
   the caption, normalised like fairseq's beam search (sum / length ** lenpen); cut at the
   first ``</s>``; the best-scoring hypothesis comes first. Merging, cutting and scoring are
   tensor operations over the whole batch.
5. Unless ``--keep-repeats``: a filled word equal to the word before it is dropped (and not
   scored); outline words are never dropped (``repeat_removal.py``).

With k = 1 the Filler has nothing to fill and the result is exactly AIC's.
"""
import math

import torch
import torch.nn.functional as F
from fairseq.data import data_utils

from saic_fairseq.generators.aic_generator import AICSequenceGenerator
from saic_fairseq.generators.beam_search import BeamSearch
from saic_fairseq.generators.greedy_search import SEARCH_OPTIONS, GreedySearch, refuse_prefix, search_applies
from saic_fairseq.generators.mask_predict_generator import mask_predict
from saic_fairseq.generators.outliner_model import OutlinerModel
from saic_fairseq.generators.repeat_removal import compact, repeats
from saic_fairseq.modules.outliner_filler_layout import OutlinerFillerLayout, never_generated

#: --outline-length choices, the default first: the greedy Outliner's word count from the length
#: head, or the paper's Outliner that writes until its own </s>
OUTLINE_LENGTHS = ("length-head", "eos")


class SAICGenerator:
    """Outliner + Filler decoding of one ``saic_transformer`` model."""

    def __init__(self, model, tgt_dict, layout: OutlinerFillerLayout, outline_beam=1, fill_beam=1,
                 max_len=200, len_penalty=1.0, normalize_scores=True, fill_iterations=0, drop_repeats=False,
                 outline_length=OUTLINE_LENGTHS[0], static=True, **search_kwargs):
        if fill_beam > outline_beam:
            raise ValueError(f"--fill-beam ({fill_beam}) must not exceed --outline-beam ({outline_beam})")
        if fill_iterations < 0:
            raise ValueError(f"--fill-iterations must be >= 0, got {fill_iterations}")
        self.fill_iterations = fill_iterations
        if outline_length not in OUTLINE_LENGTHS:
            raise ValueError(f"--outline-length must be one of {', '.join(OUTLINE_LENGTHS)}, got {outline_length!r}")
        self.drop_repeats = drop_repeats
        self.model = model
        self.tgt_dict = tgt_dict
        self.layout = layout
        self.eos = layout.eos  # fairseq-generate strips it from printed hypotheses
        self.fill_beam = fill_beam
        self.len_penalty = len_penalty
        self.normalize_scores = normalize_scores
        self.outliner = OutlinerModel(model, layout)
        outline_len = math.ceil(max_len / layout.k) + 1
        options = dict(len_penalty=len_penalty, normalize_scores=normalize_scores, **search_kwargs)
        self.greedy = self.beam = None
        self.static = static
        # SequenceGenerator's own limit: min(max_len_b, the model's positions - 1)
        limit = min(outline_len, self.outliner.max_decoder_positions() - 1)
        ours = {k: v for k, v in options.items() if k in SEARCH_OPTIONS}
        if outline_beam == 1 and search_applies(search_kwargs):
            self.greedy = GreedySearch(model.decoder, tgt_dict, layout.bog, layout.outliner_positions, limit,
                                       static=static, **ours)
        elif static and search_applies(search_kwargs):
            self.beam = BeamSearch(model.decoder, tgt_dict, layout.bog, layout.outliner_positions, outline_beam, limit,
                                   **ours)
        else:
            self.search = AICSequenceGenerator([self.outliner], tgt_dict, layout.bog, beam_size=outline_beam,
                                               max_len_a=0, max_len_b=outline_len, **options)
        # the greedy Outliner counts its words from the length head; k = 1 stays exactly AIC (its
        # Outliner is the AIC decoder, which ends with its own </s>)
        self.counts_outline_words = self.greedy is not None and outline_length == "length-head" and layout.k > 1
        # an infinite unknown-word penalty forbids <unk> in the Filler's words too
        unk_penalty = search_kwargs.get("unk_penalty", 0.0)
        self.forbidden = torch.tensor(never_generated(tgt_dict, layout, unk_penalty=unk_penalty))
        runner = getattr(model.decoder, "compiled_step", None)  # --compile (modules/compiled_step.py)
        self._merge_fills = merge_fills if runner is None else runner.compiled_function(merge_fills)

    @torch.no_grad()
    def generate(self, models, sample, **kwargs):
        """fairseq's generator contract: per sentence, a list of hypothesis dicts, best first.
        Forced prefixes are refused: a caption's first words are not the Outliner's."""
        refuse_prefix(kwargs.pop("prefix_tokens", None), type(self).__name__)
        encoder_out = self.model.encoder.forward_torchscript(sample["net_input"])
        # the image's keys and values, projected once for the Outliner's steps and the Filler
        memory = self.model.decoder.image_memory(encoder_out) if self.static else None
        rows, outlines, outline_scores, outline_lengths, scores = self.outline(encoder_out, sample, memory, **kwargs)
        tokens, positional, lengths, scores, steps = self.fill(encoder_out, rows, outlines, outline_scores,
                                                               outline_lengths, scores, memory)
        results = [[] for _ in range(encoder_out["encoder_out"][0].size(1))]
        for row, t, p, n, s, calls in zip(rows.tolist(), tokens, positional, lengths.tolist(), scores, steps.tolist()):
            results[row].append({"tokens": t[:n], "score": s, "positional_scores": p[:n], "alignment": None,
                                 "attention": None, "steps": calls})
        if self.fill_beam > 1:
            results = [sorted(hypos, key=lambda h: -float(h["score"])) for hypos in results]
        return results

    def outline(self, encoder_out, sample, memory=None, **kwargs):
        """The top M_fill outlines of every image, padded (``memory``: the images' ImageMemory,
        static decoding).

        Returns:
            rows (N,) the sentence of each outline; outlines (N, m) tokens ending in ``</s>``;
            their positional scores (N, m); lengths (N,); scores (N,) as the search ranks them.
        """
        if self.greedy is not None:
            counts = self.outline_words(encoder_out) if self.counts_outline_words else None
            tokens, positional, lengths, scores = self.greedy.search(encoder_out, counts, memory)
            return torch.arange(tokens.size(0), device=tokens.device), tokens, positional, lengths, scores
        if self.beam is not None:
            found = self.beam.search(encoder_out, memory)
        else:
            self.outliner.encoder.encoder_out = encoder_out
            try:
                found = self.search.generate([self.outliner], sample, **kwargs)
            finally:
                self.outliner.encoder.encoder_out = None
        chosen = [(i, hypo) for i, hypos in enumerate(found) for hypo in hypos[: self.fill_beam]]
        device = encoder_out["encoder_out"][0].device
        rows = torch.tensor([i for i, _ in chosen], dtype=torch.long, device=device)
        outlines = data_utils.collate_tokens([h["tokens"] for _, h in chosen], self.layout.pad)
        positional = data_utils.collate_tokens([h["positional_scores"] for _, h in chosen], 0.0)
        lengths = torch.tensor([h["tokens"].numel() for _, h in chosen], dtype=torch.long, device=device)
        scores = torch.stack([h["score"] for _, h in chosen])
        return rows, outlines, positional, lengths, scores

    def outline_words(self, encoder_out):
        """(B,) Outliner words from the length head: the most probable number of groups
        ceil(N / k) of the N caption words (their probabilities summed per group)."""
        k = self.layout.k
        probs = torch.softmax(self.model.decoder.length_logits(encoder_out)[:, 1:].float(), dim=-1)  # N = 1, 2, ..
        groups = -(-probs.size(1) // k)
        by_group = F.pad(probs, (0, groups * k - probs.size(1))).view(probs.size(0), groups, k).sum(-1)
        return by_group.argmax(-1) + 1

    def fill(self, encoder_out, rows, outlines, outline_scores, outline_lengths, scores, memory=None):
        """Fill N outlines in one decoder pass and score the captions (eq. 10).

        Args:
            rows: (N,) sentence of each outline; outlines: (N, m) right-padded, each ending in
            ``</s>``; outline_scores: (N, m) their positional scores; outline_lengths: (N,);
            scores: (N,) the outlines' search scores; memory: the images' ImageMemory (static).
        Returns:
            tokens (N, W) cut after the first ``</s>``, positional scores (N, W), lengths (N,),
            scores (N,), and (N,) sequential decoder calls (outline steps + 1 + r Filler passes).
        """
        layout = self.layout
        inputs = layout.filler_inputs(outlines, outline_lengths)  # (N, W)
        masked = inputs.eq(layout.mask)
        if not bool(masked.any()):  # k = 1, or only empty outlines: nothing to fill
            merged = self.merge(inputs, masked, inputs, torch.zeros(inputs.shape, device=inputs.device),
                                outline_scores, outline_lengths, scores)
            return (*merged, outline_lengths)
        if self.greedy is None:  # the greedy Outliner's rows are the images themselves
            if memory is None:
                encoder_out = self.model.encoder.reorder_encoder_out(encoder_out, rows)
            else:  # the passes read the memory only
                memory = memory.select(rows)
        self.forbidden = self.forbidden.to(inputs.device)
        fill_tokens, fill_scores = mask_predict(self.model.decoder, layout, self.forbidden, encoder_out, inputs,
                                                masked, 1 + self.fill_iterations, masked, memory)
        merged = self.merge(inputs, masked, fill_tokens, fill_scores, outline_scores, outline_lengths, scores)
        return (*merged, outline_lengths + 1 + self.fill_iterations)

    def merge(self, filler_inputs, masked, fill_tokens, fill_scores, outline_scores, outline_lengths, scores):
        """Outlines + the Filler's words -> captions cut at the first ``</s>``, scored by eq. 10
        (:func:`merge_fills`; compiled under ``--compile`` on a CPU), their dropped repeats
        removed.

        Returns:
            tokens (N, W') right-padded, positional scores (N, W'), lengths (N,), scores (N,).
        """
        layout = self.layout
        group_of_column = layout.group_of_columns(filler_inputs.size(1) + 1, filler_inputs.device)
        tokens, positional, lengths, scores, dropped = self._merge_fills(
            filler_inputs, masked, fill_tokens, fill_scores, outline_scores, outline_lengths, scores, group_of_column,
            layout.k, layout.eos, layout.pad, self.drop_repeats, self.normalize_scores, self.len_penalty)
        if dropped is not None and bool(dropped.any()):
            tokens, positional = compact(~dropped, (tokens, layout.pad), (positional, 0.0))
        width = int(lengths.max())
        return tokens[:, :width], positional[:, :width], lengths, scores


def merge_fills(filler_inputs, masked, fill_tokens, fill_scores, outline_scores, outline_lengths, scores,
                group_of_column, k, eos, pad, drop_repeats, normalize_scores, len_penalty):
    """Outlines + the Filler's words -> captions cut at the first ``</s>``, scored by eq. 10.
    Tensor operations only (what ``torch.compile`` takes whole).

    Args:
        filler_inputs: (N, W) the Filler's inputs (outline words and ``<mask>``s, padded);
        masked: (N, W) bool, ``filler_inputs.eq(<mask>)``.
        fill_tokens, fill_scores: (N, W) the Filler's word and log-probability per position
            (read at the ``<mask>`` positions only).
        outline_scores: (N, m) positional scores of the outlines (their ``</s>`` last);
        outline_lengths: (N,); scores: (N,) the outlines' search scores.
        group_of_column: (W + 1,) long, column // k; k: the group size; eos, pad: their indices.
        drop_repeats: a filled word equal to the word before it is dropped (``repeat_removal.py``).
        normalize_scores, len_penalty: eq. 10's normalisation, sum / length ** len_penalty.
    Returns:
        tokens (N, W + 1) right-padded, positional scores (N, W + 1), lengths (N,) and scores (N,)
        without the dropped words, and the dropped positions (N, W + 1) bool (None unless
        ``drop_repeats``), still in ``tokens``: the caller removes them (:func:`compact`).
    """
    # one column more: the outline's </s> goes after its last group (column (m - 1) * k),
    # where column // k picks the Outliner's score for it, as it does for every outline word
    is_mask = F.pad(masked, (0, 1))
    end = ((outline_lengths - 1) * k)[:, None]
    outline = F.pad(filler_inputs, (0, 1), value=pad).scatter(1, end, eos)
    tokens = torch.where(is_mask, F.pad(fill_tokens, (0, 1)), outline)
    positional = torch.where(is_mask, F.pad(fill_scores, (0, 1)).to(outline_scores),
                             outline_scores[:, group_of_column])
    # cut at the first </s> (the Filler may end the caption inside a group)
    lengths = tokens.eq(eos).int().argmax(-1) + 1
    cut = torch.arange(tokens.size(1), device=tokens.device)[None, :] >= lengths[:, None]
    tokens, positional = tokens.masked_fill(cut, pad), positional.masked_fill(cut, 0.0)
    filled = is_mask.masked_fill(cut, False)
    dropped = None
    if drop_repeats:  # a filled word equal to the word before it (repeat_removal.py)
        dropped = repeats(tokens, filled)
        filled = filled & ~dropped
        lengths = lengths - dropped.sum(-1)
    filler_sum = positional.masked_fill(~filled, 0.0).sum(-1)
    n_out = outline_lengths.to(filler_sum)
    n_terms = n_out + filled.sum(-1).to(filler_sum)
    if normalize_scores and len_penalty == 1:
        scores = (scores * n_out + filler_sum) / n_terms
    elif normalize_scores:
        scores = scores * (n_out / n_terms) ** len_penalty + filler_sum / n_terms**len_penalty
    else:
        scores = scores + filler_sum
    return tokens, positional, lengths, scores, dropped
