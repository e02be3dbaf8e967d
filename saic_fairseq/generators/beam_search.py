"""Batched beam search on the static cache: fairseq's SequenceGenerator, reproduced exactly.

The same algorithm as ``fairseq.sequence_generator.SequenceGenerator`` with ``BeamSearch``
(fairseq 0.12): 2 x beam candidates per sentence and step, a hypothesis that ends in ``</s>``
is finalised with its score divided by length ** lenpen, a sentence leaves the batch once it
has ``beam`` finished hypotheses or reaches the length limit, and each sentence's hypotheses
are sorted by score at the end; so the hypotheses, scores, positional scores and their order
are the same (tests compare them token for token on the test checkpoints). What differs is the
bookkeeping around the decoder call: one :class:`StaticCache` whose beam reorder is one
``index_select`` (the image's keys and values are projected once and never reordered), no
ensemble wrapper, no per-module cache dictionaries, and the step's rules (no padding, the
unknown-word penalty, no ``</s>`` before ``min_len``) as one added bias row. On a CPU a small
batch keeps its books in Python lists instead (``host_beam_search.py``: the same decisions in
a few tensor operations a step; ``bookkeeping``).

Options it reproduces: beam, ``--lenpen``, ``--unnormalized``, ``--min-len``, ``--max-len-b``
(with ``--max-len-a 0``), ``--unkpen``, ``--temperature``. Anything else (n-gram blocking,
sampling, prefixes, ensembles) goes to SequenceGenerator (``generators.build_caption_generator``).
"""
import math

import torch

from saic_fairseq.generators.greedy_search import checked_bookkeeping, keeps_books_on_host, refuse_prefix, step_biases
from saic_fairseq.generators.host_beam_search import host_beam_search
from saic_fairseq.modules.outliner_filler_layout import CAUSAL, OutlinerFillerLayout
from saic_fairseq.modules.static_cache import StaticCache


class BeamSearch:
    """Beam search of one decoder at given sentence positions.

    Args:
        decoder: a SAICDecoder.
        tgt_dict: its dictionary.
        bos: the first input token (``<bog>``).
        positions: ``positions(length, device) -> (length,)`` sentence positions of the steps.
        beam_size: hypotheses kept per sentence.
        max_len: SequenceGenerator's length limit (``min(max_len_b, positions - 1)``): at most
            this many tokens before ``</s>``.
        min_len, len_penalty, normalize_scores, unk_penalty, temperature: as in SequenceGenerator.
        bookkeeping: ``greedy_search.BOOKKEEPING``: "tensors" (this module's search), "host"
            (``host_beam_search``: the same hypotheses with the books in Python lists) or "auto"
            (``greedy_search.keeps_books_on_host``: the host on a CPU for small batches).
    """

    def __init__(self, decoder, tgt_dict, bos, positions, beam_size, max_len, min_len=1, len_penalty=1.0,
                 normalize_scores=True, unk_penalty=0.0, temperature=1.0, bookkeeping="auto"):
        if temperature <= 0:
            raise ValueError(f"--temperature must be > 0, got {temperature}")
        if min_len > max_len:
            raise ValueError("min_len cannot be larger than max_len, please adjust these!")
        self.decoder, self.bos, self.positions, self.beam = decoder, bos, positions, beam_size
        self.pad, self.eos, self.unk = tgt_dict.pad(), tgt_dict.eos(), tgt_dict.unk()
        self.vocab = len(tgt_dict)
        self.max_len, self.min_len = max_len, min_len
        self.len_penalty, self.normalize_scores = len_penalty, normalize_scores
        self.unk_penalty, self.temperature = unk_penalty, temperature
        self.bookkeeping = checked_bookkeeping(bookkeeping)
        self._bias = None

    def biases(self, device):
        """(bias, before_min_len, eos_only): the step's additive rows (``step_biases``) on ``device``."""
        self._bias = step_biases(self._bias, self.vocab, self.pad, self.unk, self.eos, self.unk_penalty, device)
        return self._bias

    def on_host(self, sentences, device):
        """Whether a search of ``sentences`` (``beam`` hypotheses each) on ``device`` keeps its
        books in Python lists."""
        return keeps_books_on_host(self.bookkeeping, sentences * self.beam, device)

    @torch.no_grad()
    def search(self, encoder_out, memory=None):
        """fairseq's generator output for every image of ``encoder_out``: per image, ``beam``
        hypothesis dicts (tokens ending in ``</s>``, score, positional_scores), best first.
        ``memory``: the images' ImageMemory when the caller has it already."""
        if memory is None:
            memory = self.decoder.image_memory(encoder_out)
        if self.on_host(memory.batch, memory.keys[0].device):
            finalized = host_beam_search(self, memory)
        else:
            finalized = self._search_tensors(memory)
        return [sort_hypotheses(hypos) for hypos in finalized]

    def candidates(self, biases, logits, step, cumulative):
        """fairseq's ``BeamSearch.step`` for both bookkeepings: (R * beam, 1, V) decoder logits
        of ``step`` -> (R, k) the best k = 2 x beam candidate scores and their indices
        (hypothesis * V + word) per sentence: log-softmax (of logits / temperature), the step's
        row of ``biases`` (``step_biases``: before ``min_len``, at the length limit, between),
        plus each hypothesis's (R * beam,) ``cumulative`` score; at step 0 only the first
        hypothesis of each sentence is expanded (all are ``<bog>``)."""
        bias, before_min_len, eos_only = biases
        step_bias = eos_only if step >= self.max_len else before_min_len if step < self.min_len else bias
        logits = logits[:, -1, :]
        if self.temperature != 1:
            logits = logits / self.temperature
        lprobs = torch.log_softmax(logits, dim=-1, dtype=torch.float32) + step_bias
        lprobs = lprobs.view(-1, self.beam, self.vocab)
        if step == 0:
            lprobs = lprobs[:, :: self.beam, :].contiguous()
        else:
            lprobs = lprobs + cumulative.view(-1, self.beam, 1)
        flat = lprobs.view(lprobs.size(0), -1)
        return torch.topk(flat, k=min(2 * self.beam, flat.size(1) - 1))

    def _search_tensors(self, memory):
        """The search with its books in tensors: per image, its finished hypotheses (unsorted)."""
        bsz, beam, device, max_len = memory.batch, self.beam, memory.keys[0].device, self.max_len
        biases = self.biases(device)
        rows = torch.arange(bsz, device=device).repeat_interleave(beam)
        cache = StaticCache(self.decoder, memory.select(rows), max_len + 1)
        all_positions = self.positions(max_len + 1, device)
        scores = torch.zeros(bsz * beam, max_len + 1, device=device)
        tokens = torch.full((bsz * beam, max_len + 2), self.pad, dtype=torch.long, device=device)
        tokens[:, 0] = self.bos
        cands_to_ignore = torch.zeros(bsz, beam, dtype=torch.bool, device=device)
        finalized = [[] for _ in range(bsz)]
        finished = [False] * bsz
        num_remaining = bsz
        cand_size = 2 * beam
        bbsz_offsets = (torch.arange(bsz, device=device) * beam).unsqueeze(1)
        cand_offsets = torch.arange(cand_size, device=device)
        reorder_state, batch_idxs = None, None
        for step in range(max_len + 1):
            if reorder_state is not None:
                if batch_idxs is not None:  # sentences left the batch: the rows they had go too
                    corr = batch_idxs - torch.arange(batch_idxs.numel(), device=device)
                    reorder_state.view(-1, beam).add_(corr.unsqueeze(-1) * beam)
                    cache.reorder(reorder_state, images=reorder_state)
                else:
                    cache.reorder(reorder_state)
            logits, _ = self.decoder(tokens[:, step : step + 1], None, incremental_state=cache,
                                     positions=all_positions[step : step + 1], self_attn_layout=CAUSAL)
            cand_scores, cand_indices = self.candidates(biases, logits, step, scores[:, step - 1] if step else None)
            cand_beams = torch.div(cand_indices, self.vocab, rounding_mode="trunc")
            cand_indices = cand_indices.fmod(self.vocab)
            cand_bbsz_idx = cand_beams.add(bbsz_offsets)
            eos_mask = cand_indices.eq(self.eos) & cand_scores.ne(-math.inf)
            eos_mask[:, :beam] &= ~cands_to_ignore
            finalized_sents = []
            if bool(eos_mask[:, :beam].any()):
                eos_bbsz_idx = torch.masked_select(cand_bbsz_idx[:, :beam], mask=eos_mask[:, :beam])
                eos_scores = torch.masked_select(cand_scores[:, :beam], mask=eos_mask[:, :beam])
                finalized_sents = self._finalize(step, eos_bbsz_idx, eos_scores, tokens, scores, finalized, finished,
                                                 max_len)
                num_remaining -= len(finalized_sents)
            if num_remaining == 0:
                break
            if len(finalized_sents) > 0:
                new_bsz = bsz - len(finalized_sents)
                batch_mask = torch.ones(bsz, dtype=torch.bool, device=device)
                batch_mask[finalized_sents] = False
                batch_idxs = torch.arange(bsz, device=device).masked_select(batch_mask)
                eos_mask, cand_beams = eos_mask[batch_idxs], cand_beams[batch_idxs]
                bbsz_offsets = bbsz_offsets[:new_bsz]
                cand_bbsz_idx = cand_beams.add(bbsz_offsets)
                cand_scores, cand_indices = cand_scores[batch_idxs], cand_indices[batch_idxs]
                cands_to_ignore = cands_to_ignore[batch_idxs]
                scores = scores.view(bsz, -1)[batch_idxs].view(new_bsz * beam, -1)
                tokens = tokens.view(bsz, -1)[batch_idxs].view(new_bsz * beam, -1)
                bsz = new_bsz
            else:
                batch_idxs = None
            eos_mask[:, :beam] |= cands_to_ignore  # SequenceGenerator's ~(~ignore & ~eos)
            active_mask = eos_mask.to(cand_offsets) * cand_size + cand_offsets[: eos_mask.size(1)]
            new_cands_to_ignore, active_hypos = torch.topk(active_mask, k=beam, dim=1, largest=False)
            cands_to_ignore = new_cands_to_ignore.ge(cand_size)[:, :beam]
            active_bbsz_idx = torch.gather(cand_bbsz_idx, dim=1, index=active_hypos).view(-1)
            tokens[:, : step + 1] = tokens[:, : step + 1].index_select(0, active_bbsz_idx)
            tokens.view(bsz, beam, -1)[:, :, step + 1] = torch.gather(cand_indices, dim=1, index=active_hypos)
            if step > 0:
                scores[:, :step] = scores[:, :step].index_select(0, active_bbsz_idx)
            scores.view(bsz, beam, -1)[:, :, step] = torch.gather(cand_scores, dim=1, index=active_hypos)
            reorder_state = active_bbsz_idx
        return finalized

    def _finalize(self, step, bbsz_idx, eos_scores, tokens, scores, finalized, finished, max_len):
        """SequenceGenerator.finalize_hypos: hypotheses ending at ``step`` into ``finalized``;
        returns the batch rows (sentence indices among the unfinished) that are now finished."""
        beam = self.beam
        tokens_clone = tokens.index_select(0, bbsz_idx)[:, 1 : step + 2]
        tokens_clone[:, step] = self.eos
        pos_scores = scores.index_select(0, bbsz_idx)[:, : step + 1]
        pos_scores[:, step] = eos_scores
        pos_scores[:, 1:] = pos_scores[:, 1:] - pos_scores[:, :-1]
        if self.normalize_scores:
            eos_scores /= (step + 1) ** self.len_penalty
        unfinished = [s for s, done in enumerate(finished) if not done]  # batch row -> sentence
        batch_rows = torch.div(bbsz_idx, beam, rounding_mode="trunc").tolist()
        empty = torch.empty(0)
        for i, row in enumerate(batch_rows):
            hypos = finalized[unfinished[row]]
            if len(hypos) < beam:
                hypos.append({"tokens": tokens_clone[i], "score": eos_scores[i], "attention": empty,
                              "alignment": empty, "positional_scores": pos_scores[i]})
        newly_finished = []
        for row in sorted(set(batch_rows)):
            sent = unfinished[row]
            if len(finalized[sent]) == beam or step == max_len:
                finished[sent] = True
                newly_finished.append(row)
        return newly_finished


class BeamGenerator:
    """AIC decoding with beam > 1 on the static cache, in fairseq's generator contract."""

    def __init__(self, model, tgt_dict, bos, beam_size, max_len, **options):
        self.model = model
        self.eos = tgt_dict.eos()  # fairseq-generate strips it from printed hypotheses
        self.search = BeamSearch(model.decoder, tgt_dict, bos, OutlinerFillerLayout.positions, beam_size, max_len,
                                 **options)

    @torch.no_grad()
    def generate(self, models, sample, prefix_tokens=None, **unused):
        refuse_prefix(prefix_tokens, type(self).__name__)
        return self.search.search(self.model.encoder.forward_torchscript(sample["net_input"]))


def sort_hypotheses(hypos):
    """A sentence's finished hypotheses best first, as SequenceGenerator sorts them."""
    order = torch.sort(torch.tensor([float(h["score"].item()) for h in hypos]), descending=True)[1]
    return [hypos[i] for i in order]
