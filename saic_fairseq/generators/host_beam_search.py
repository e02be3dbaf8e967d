"""Beam search whose bookkeeping runs in Python on the host: few tensor operations per step.

:class:`~saic_fairseq.generators.beam_search.BeamSearch` keeps every hypothesis's tokens and
scores in tensors and updates them with some thirty small tensor operations a step (candidate
offsets, masks, gathers, index selects), as fairseq's SequenceGenerator does. On a CPU at
captioning sizes each of those costs its dispatch, not its arithmetic: at batch 1, beam 5 the
bookkeeping took about as long as a compiled decoder step. Here a step makes the decoder call,
the log-softmax and the 2 x beam candidate top-k on the device (``BeamSearch.candidates``, which
the tensor search calls too), reads the candidates to the
host once (the step's one synchronisation, as the tensor search's ``</s>`` check is) and does
the rest in Python lists: which hypotheses end, which sentences finish, the next beam, each
hypothesis's words and cumulative scores. Back on the device go the next words, the beam's
cumulative scores and one cache reorder.

The same algorithm, decision for decision (fairseq 0.12's ``BeamSearch.step``,
``finalize_hypos`` and the active-hypothesis selection), and the same float32 arithmetic on
the scores (cumulative scores add on the device, length normalisation is the same tensor
operation, positional scores are float32 differences: :func:`_finalize`), so the hypotheses,
scores, positional scores and order are those of SequenceGenerator and of the tensor search
(tests compare all three). ``BeamSearch.search`` chooses between the two (its ``bookkeeping``).
"""
import torch

from saic_fairseq.modules.outliner_filler_layout import CAUSAL
from saic_fairseq.modules.static_cache import StaticCache

NEG_INF = float("-inf")


class _Hypothesis:
    """One live hypothesis: its words and its cumulative score after each of them (floats
    holding float32 values, as read from the device)."""

    __slots__ = ("words", "scores")

    def __init__(self, words, scores):
        self.words, self.scores = words, scores


def host_beam_search(search, memory):
    """``search`` (a BeamSearch: its decoder, options and step candidates) over the images of
    ``memory`` (an ImageMemory): per image, its finished hypothesis dicts (unsorted:
    ``BeamSearch.search`` sorts them)."""
    decoder, beam, eos, max_len = search.decoder, search.beam, search.eos, search.max_len
    bsz, device = memory.batch, memory.keys[0].device
    biases = search.biases(device)
    cache = StaticCache(decoder, memory.select(torch.arange(bsz, device=device).repeat_interleave(beam)), max_len + 1)
    all_positions = search.positions(max_len + 1, device)
    vocab = search.vocab
    sentences = list(range(bsz))  # the sentence of each live batch row
    beams = [[_Hypothesis([], []) for _ in range(beam)] for _ in range(bsz)]  # per live row
    ignore = [[False] * beam for _ in range(bsz)]  # SequenceGenerator's cands_to_ignore
    finalized = [[] for _ in range(bsz)]
    words = torch.full((bsz * beam, 1), search.bos, dtype=torch.long, device=device)
    beam_scores = None  # (rows * beam,) float32: each live hypothesis's cumulative score
    for step in range(max_len + 1):
        logits, _ = decoder(words, None, incremental_state=cache, positions=all_positions[step : step + 1],
                            self_attn_layout=CAUSAL)
        top_scores, top_indices = search.candidates(biases, logits, step, beam_scores)
        rows = len(sentences)
        top_scores, top_indices = top_scores.tolist(), top_indices.tolist()  # the step's synchronisation
        kept, order, next_words, next_scores = [], [], [], []
        for row in range(rows):
            sentence, scores, ignored = sentences[row], top_scores[row], ignore[row]
            candidates = [divmod(index, vocab) for index in top_indices[row]]  # (hypothesis, word)
            ends = [word == eos and score != NEG_INF for (_, word), score in zip(candidates, scores)]
            ended = [j for j in range(beam) if ends[j] and not ignored[j]]
            for j in ended:
                if len(finalized[sentence]) < beam:
                    finalized[sentence].append(_finalize(search, step, beams[row][candidates[j][0]], scores[j]))
            if ended and (len(finalized[sentence]) == beam or step == max_len):
                continue  # the sentence is finished: it leaves the batch
            # the next beam: the first candidates that do not end (nor were ignored), in order, then
            # the others (SequenceGenerator's active hypotheses); those others are ignored next step
            flags = [end or (j < beam and ignored[j]) for j, end in enumerate(ends)]
            chosen = [j for j, flag in enumerate(flags) if not flag] + [j for j, flag in enumerate(flags) if flag]
            chosen = chosen[:beam]
            ignore[row] = [flags[j] for j in chosen]
            parents = beams[row]
            new_beam = []
            for j in chosen:
                source, word = candidates[j]
                parent = parents[source]
                new_beam.append(_Hypothesis(parent.words + [word], parent.scores + [scores[j]]))
                order.append(row * beam + source)
                next_words.append(word)
                next_scores.append(scores[j])
            beams[row] = new_beam
            kept.append(row)
        if not kept:
            break
        if len(kept) < rows:
            sentences = [sentences[row] for row in kept]
            beams = [beams[row] for row in kept]
            ignore = [ignore[row] for row in kept]
        order = torch.tensor(order, dtype=torch.long, device=device)
        cache.reorder(order, images=order if len(kept) < rows else None)
        words = torch.tensor(next_words, dtype=torch.long, device=device).view(-1, 1)
        beam_scores = torch.tensor(next_scores, dtype=torch.float32, device=device)
    return finalized


def _finalize(search, step, parent, eos_score):
    """SequenceGenerator's finished hypothesis: ``parent``'s words and ``</s>`` at ``step``,
    its positional scores (differences of the cumulative ones) and its score (divided by
    length ** lenpen when normalised, a float32 tensor operation as there). The differences are
    taken in Python floats and rounded to float32 once: for float32 operands that is float32's
    own subtraction, bit for bit (a double's 53 bits >= 2 x 24 + 2: Figueroa's double-rounding
    theorem)."""
    device = search.decoder.embed_tokens.weight.device
    cumulative = parent.scores + [eos_score]
    positional = [cumulative[0]] + [b - a for a, b in zip(cumulative, cumulative[1:])]
    score = torch.tensor(eos_score, dtype=torch.float32, device=device)
    if search.normalize_scores:
        score /= (step + 1) ** search.len_penalty
    empty = torch.empty(0)
    return {"tokens": torch.tensor(parent.words + [search.eos], dtype=torch.long, device=device), "score": score,
            "attention": empty, "alignment": empty,
            "positional_scores": torch.tensor(positional, dtype=torch.float32, device=device)}
