"""Greedy left-to-right decoding (beam 1) without a beam search's bookkeeping.

fairseq's SequenceGenerator with ``--beam 1`` spends most of a step on bookkeeping (candidate
top-k over 2 x beam, finalisation, batch shrinking) that one hypothesis per sentence does not
need; on a small decoder that costs as much as the decoder call itself. This loop takes the
most probable token at every step with the decoder's incremental cache, under the same rules
as SequenceGenerator (padding never, ``</s>`` not before ``min_len``, ``</s>`` forced at the
length limit, the unknown-word penalty, temperature), so it returns the same tokens and
scores; tests check this against SequenceGenerator token for token. Its books (each row's
words and scores, which rows have ended) stay in tensors (:class:`TensorBooks`) or, on a CPU
for a small batch, go to Python lists (:class:`HostBooks`: one read of each step's words and
scores instead of a dozen small tensor operations); the same bits either way. As
SequenceGenerator does, the batch drops the rows that have ended (:data:`CUT_WHEN_OPEN`), so
that one long caption does not keep every row of its batch stepping to the length limit.
"""
import torch

from saic_fairseq.modules.outliner_filler_layout import CAUSAL, OutlinerFillerLayout
from saic_fairseq.modules.static_cache import StaticCache

#: where a search keeps its books (which words each row has written, their scores, which rows
#: have ended): "tensors", "host" (Python lists: one read of each step's result, the rest on
#: the host) or "auto" (:func:`keeps_books_on_host`)
BOOKKEEPING = ("auto", "tensors", "host")
#: "auto" keeps the books on the host on a CPU for up to this many live hypotheses (sentences x
#: beam), where each tensor operation of the bookkeeping costs its dispatch, not its arithmetic:
#: greedy batches of up to 20 sentences, beam 5 up to 4. Measured (docs/speed.md, saic-benchmark
#: --search-variants, the demo under --compile), host / tensors time at batch 1, 4, 8, 16, 50:
#: AIC b5 0.88, 0.92, 0.97, 0.99, 1.05; SAIC 5/5 (the Outliner's beam) 0.94, 0.98, 1.06, 1.04,
#: 1.06; AIC b1 0.97, 0.97, 0.97, 0.98, 1.00; SAIC 1/1 0.98, 0.98, 0.98, 0.98, 1.02
HOST_MAX_HYPOTHESES = 20
#: the static-cache search cuts its batch to the rows still open once at most this fraction of
#: them is (one reorder of the cache and the image memory per cut, at most log2(B) cuts):
#: SequenceGenerator drops every sentence the step it ends, which at batch 50 would reorder the
#: cache almost every step. Measured (docs/speed.md; the demo's greedy AIC, where one caption in
#: a few batches of 50 runs to the 63-word limit): 0.64x the time of never cutting at batch 50
#: under --compile, 0.73x eager, 0.94x at batch 8; cutting at 25% or at any ended row the same
#: within noise
CUT_WHEN_OPEN = 0.5


def checked_bookkeeping(bookkeeping):
    """``bookkeeping`` if it is one of :data:`BOOKKEEPING`; an unknown choice is refused by name."""
    if bookkeeping not in BOOKKEEPING:
        raise ValueError(f"bookkeeping must be one of {', '.join(BOOKKEEPING)}, got {bookkeeping!r}")
    return bookkeeping


def checked_cut_when_open(fraction):
    """``fraction`` (of a batch's rows open, at most which a greedy search cuts its batch) if it is
    a number in [0, 1); anything else refused by name."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(f"cut_when_open must be a fraction in [0, 1) (0: never cut), got {fraction!r}")
    return fraction


def keeps_books_on_host(bookkeeping, hypotheses, device):
    """Whether a search of ``hypotheses`` live hypotheses (sentences x beam) on ``device`` with
    ``bookkeeping`` (one of :data:`BOOKKEEPING`) keeps its books in Python lists."""
    if bookkeeping != "auto":
        return bookkeeping == "host"
    return torch.device(device).type == "cpu" and hypotheses <= HOST_MAX_HYPOTHESES


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
        bookkeeping: one of :data:`BOOKKEEPING` (static only; the incremental path keeps
            tensors): :class:`TensorBooks` or :class:`HostBooks`, the same tokens and scores.
        cut_when_open: the batch goes on with its open rows once at most this fraction of its
            rows is open (static only; :data:`CUT_WHEN_OPEN`; 0 never cuts).
    """

    def __init__(self, decoder, tgt_dict, bos, positions, max_len, min_len=1, len_penalty=1.0,
                 normalize_scores=True, unk_penalty=0.0, temperature=1.0, static=True, bookkeeping="auto",
                 cut_when_open=CUT_WHEN_OPEN):
        if temperature <= 0:
            raise ValueError(f"--temperature must be > 0, got {temperature}")
        self.decoder, self.bos, self.positions = decoder, bos, positions
        self.pad, self.eos, self.unk = tgt_dict.pad(), tgt_dict.eos(), tgt_dict.unk()
        self.max_len, self.min_len = max_len, min_len
        self.len_penalty, self.normalize_scores = len_penalty, normalize_scores
        self.unk_penalty, self.temperature = unk_penalty, temperature
        self.static, self.bookkeeping = static, checked_bookkeeping(bookkeeping)
        self.cut_when_open = checked_cut_when_open(cut_when_open)
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
        on_host = self.static and keeps_books_on_host(self.bookkeeping, bsz, device)
        books = (HostBooks if on_host else TensorBooks)(bsz, device, self.pad, self.eos, word_counts)
        word = torch.full((bsz,), self.bos, dtype=torch.long, device=device)
        all_positions = self.positions(steps, device)
        if self.static:
            memory = self.decoder.image_memory(encoder_out) if memory is None else memory
            incremental_state = StaticCache(self.decoder, memory, steps)
        else:
            incremental_state = {}
        for step in range(steps):
            if word_counts is not None and step == steps - 1:  # every open row has reached its count
                books.close()
                break
            # with a cache the decoder reads only the newest token and its position
            logits, _ = self.decoder(word[:, None], encoder_out, incremental_state=incremental_state,
                                     positions=all_positions[step : step + 1], self_attn_layout=CAUSAL)
            logits = logits[:, -1].float()
            if self.temperature != 1:
                logits = logits / self.temperature
            lprobs = torch.log_softmax(logits, dim=-1) + (bias_before_min_len if step < self.min_len else bias)
            if step >= self.max_len:
                word = torch.full((lprobs.size(0),), self.eos, dtype=torch.long, device=device)
                score = lprobs[:, self.eos]
            else:
                score, word = lprobs.max(dim=-1)
            word, done = books.add(step, word, score, step in count_steps)
            if done:
                break
            # most rows have ended: the open ones go on alone (unless no call follows: with word
            # counts the last step only closes the rows)
            if self.static and step + 1 < steps - (word_counts is not None):
                kept = books.cut(self.cut_when_open)
                if kept is not None:
                    word = word.index_select(0, kept)
                    incremental_state.reorder(kept, images=kept)
        tokens, positional = books.tensors()
        lengths = tokens.ne(self.pad).sum(-1)  # every row ends in exactly one </s>, then padding
        scores = positional.sum(-1)
        if self.normalize_scores:
            scores = scores / lengths.to(scores) ** self.len_penalty
        return tokens, positional, lengths, scores


class TensorBooks:
    """A greedy search's words and scores kept in tensors: any device, any batch.

    The search's batch holds the rows still stepping: all B at first, fewer after a
    :meth:`cut`; the books keep every row's words and scores (a row cut from the batch: padding,
    scored 0).

    Args:
        bsz, device, pad, eos: the rows, and the tokens that pad and end them.
        word_counts: optional (B,) long, each row's step of a forced ``</s>`` (scored 0).
    """

    def __init__(self, bsz, device, pad, eos, word_counts):
        self.pad, self.eos, self.word_counts, self.bsz = pad, eos, word_counts, bsz
        self.words, self.scores = [], []
        self.rows = None  # (R,) long: the rows in the batch once it has been cut (None: all B)
        self.finished = torch.zeros(bsz, dtype=torch.bool, device=device)  # of the batch's rows
        self.n_finished = 0

    def add(self, step, word, score, counted):
        """Record the step's (R,) ``word`` and ``score`` of the batch's rows (``counted``: some
        row reaches its word count here); returns the (R,) words the next step reads and whether
        every row has ended."""
        if counted:  # rows that reach their count end here, </s> scored 0
            at_count = self.word_counts.eq(step)
            word, score = word.masked_fill(at_count, self.eos), score.masked_fill(at_count, 0.0)
        if self.n_finished:  # rows that have ended are padded
            word, score = word.masked_fill(self.finished, self.pad), score.masked_fill(self.finished, 0.0)
        self._record(word, score)
        self.finished |= word.eq(self.eos)
        self.n_finished = int(self.finished.sum())  # the one host synchronisation of a step
        return word, self.n_finished == self.finished.numel()

    def _record(self, word, score):
        if self.rows is not None:  # back to all B rows: those cut from the batch padded, scored 0
            word = word.new_full((self.bsz,), self.pad).index_copy_(0, self.rows, word)
            score = score.new_zeros(self.bsz).index_copy_(0, self.rows, score)
        self.words.append(word)
        self.scores.append(score)

    def cut(self, cut_when_open):
        """Once at most ``cut_when_open`` of the batch's rows are open: (R',) long, the batch
        positions of the open ones, which alone go on (the books follow); else None."""
        rows = self.finished.numel()
        if rows - self.n_finished > rows * cut_when_open:
            return None
        kept = (~self.finished).nonzero().squeeze(1)
        self.rows = kept if self.rows is None else self.rows.index_select(0, kept)
        if self.word_counts is not None:
            self.word_counts = self.word_counts.index_select(0, kept)
        self.finished = self.finished.index_select(0, kept)
        self.n_finished = 0
        return kept

    def close(self):
        """Every open row has reached its count: ``</s>``, scored 0 (ended rows: padding)."""
        self._record(torch.where(self.finished, self.pad, self.eos),
                     torch.zeros(self.finished.numel(), device=self.finished.device))

    def tensors(self):
        """(B, T) long tokens and (B, T) float scores of the steps recorded."""
        return torch.stack(self.words, 1), torch.stack(self.scores, 1)


class HostBooks(TensorBooks):
    """The same books in Python lists: one read of the step's words and scores, the rest on the
    host (a CPU's small batches, where each tensor operation costs its dispatch); the same
    tokens and float32 scores, and the same cuts, as :class:`TensorBooks`."""

    def __init__(self, bsz, device, pad, eos, word_counts):
        self.pad, self.eos, self.bsz, self.device = pad, eos, bsz, device
        self.counts = None if word_counts is None else word_counts.tolist()
        self.words, self.scores = [], []
        self.rows = list(range(bsz))  # the rows in the batch
        self.finished = [False] * bsz  # of every row (a row cut from the batch had ended)

    def add(self, step, word, score, counted):
        words, scores = word.tolist(), score.tolist()  # the step's synchronisation
        all_words, all_scores = [self.pad] * self.bsz, [0.0] * self.bsz
        for i, row in enumerate(self.rows):
            if counted and self.counts[row] == step:
                words[i], scores[i] = self.eos, 0.0
            if self.finished[row]:
                words[i], scores[i] = self.pad, 0.0
            elif words[i] == self.eos:
                self.finished[row] = True
            all_words[row], all_scores[row] = words[i], scores[i]
        self.words.append(all_words)
        self.scores.append(all_scores)
        return torch.tensor(words, dtype=torch.long, device=self.device), all(self.finished)

    def cut(self, cut_when_open):
        kept = [i for i, row in enumerate(self.rows) if not self.finished[row]]
        if len(kept) > len(self.rows) * cut_when_open:
            return None
        self.rows = [self.rows[i] for i in kept]
        return torch.tensor(kept, dtype=torch.long, device=self.device)

    def close(self):
        self.words.append([self.pad if done else self.eos for done in self.finished])
        self.scores.append([0.0] * self.bsz)

    def tensors(self):
        return (torch.tensor(list(zip(*self.words)), dtype=torch.long, device=self.device),
                torch.tensor(list(zip(*self.scores)), dtype=torch.float32, device=self.device))


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
