"""How one caption becomes the inputs and targets of AIC, NAIC, Outliner and Filler.

For a target ``y = w_1 .. w_N </s>`` (length L = N + 1) and group size k, group g covers
sentence positions g*k .. g*k + k - 1:

    outline  z = y[0], y[k], y[2k], ...  (+ </s> if </s> is not a group-first token)
    Outliner input  <bog> z_0 .. z_{m-2}   at sentence positions 0, k, 2k, ...
    Filler input    z_0 <mask>*(k-1) z_1 <mask>*(k-1) ...   (outline words, no </s>)
    Filler target   y at every <mask> position before the end of y, padding elsewhere

With k = 1 the Outliner is exactly the AIC decoder and the Filler has nothing to fill.

This module is the one home of that vocabulary: the four sample kinds, their self-attention
layouts (:data:`CAUSAL` or :data:`BIDIRECTIONAL`) and sentence positions, the tokens no
decoder may output, and the task's layout (:func:`layout_of`). The single-sentence functions
take and return 1-D LongTensors without padding; :meth:`OutlinerFillerLayout.batch` builds
the same samples for a whole right-padded batch at once (what training uses).
"""
import math

import torch
import torch.nn.functional as F
from fairseq.data import data_utils

#: self-attention layouts: "causal" (AIC, Outliner) or "bidirectional" (NAIC, Filler)
CAUSAL, BIDIRECTIONAL = "causal", "bidirectional"
#: the four sample kinds, and the self-attention layout each is trained and decoded with
KINDS = ("aic", "naic", "outliner", "filler")
LAYOUT_OF_KIND = {"aic": CAUSAL, "naic": BIDIRECTIONAL, "outliner": CAUSAL, "filler": BIDIRECTIONAL}


def layout_of(task, group_size=None):
    """The task's token layout for ``group_size`` (default: ``--group-size``)."""
    d = task.target_dictionary
    return OutlinerFillerLayout(group_size or task.cfg.group_size, task.bog_idx, task.mask_idx, d.eos(), d.pad())


def aic_inputs(targets, bog, pad):
    """(B, L) right-padded targets -> (B, L) inputs of left-to-right decoding: ``<bog>`` then
    each target shifted right, padding where the target has it (the one place they are built:
    the dataset's ``prev_output_tokens``, training batches and SCST's teacher-forced pass)."""
    inputs = torch.cat([targets.new_full((targets.size(0), 1), bog), targets[:, :-1]], 1)
    return inputs.masked_fill(targets.eq(pad), pad)


def never_generated(tgt_dict, layout, also=(), unk_penalty=0.0):
    """Indices a decoder must never output: padding, ``<bog>``, ``<mask>`` (+ ``also``), and
    ``<unk>`` when the unknown-word penalty is infinite (what the searches then never pick)."""
    unk = [tgt_dict.unk()] if unk_penalty == math.inf else []
    return [tgt_dict.pad(), layout.bog, layout.mask, *also, *unk]


class OutlinerFillerLayout:
    """Layouts for group size ``k`` over a dictionary's special symbols."""

    def __init__(self, group_size, bog, mask, eos, pad):
        if group_size < 1:
            raise ValueError(f"group size must be >= 1, got {group_size}")
        self.k, self.bog, self.mask, self.eos, self.pad = int(group_size), bog, mask, eos, pad

    # ---- single sentences -------------------------------------------------------------
    def outline(self, target):
        """Group-first tokens of ``target`` (words + </s>), always ending in </s>."""
        z = target[:: self.k]
        if z[-1] != self.eos:
            z = torch.cat([z, z.new_tensor([self.eos])])
        return z

    def aic_sample(self, target):
        """(input, target) of the left-to-right decoder: <bog> y_0 .. y_{L-2} -> y."""
        return torch.cat([target.new_tensor([self.bog]), target[:-1]]), target

    def outliner_sample(self, target):
        """(input, target) of the Outliner; feed at positions ``outliner_positions``."""
        return self.aic_sample(self.outline(target))

    def naic_sample(self, target):
        """(input, target) of one-pass NAIC: N <mask>s -> the N words (no </s>)."""
        words = target[:-1]
        return torch.full_like(words, self.mask), words

    def filler_input(self, outline_words):
        """Outline words (no </s>) -> each followed by k - 1 <mask>s, length k * m."""
        m = outline_words.numel()
        layout = outline_words.new_full((m, self.k), self.mask)
        layout[:, 0] = outline_words
        return layout.view(-1)

    def filler_sample(self, target):
        """(input, target) of the Filler; target is padding except at <mask> positions."""
        words = self.outline(target)[:-1]
        inp = self.filler_input(words)
        out = inp.new_full(inp.shape, self.pad)
        end = min(inp.numel(), target.numel())
        out[:end] = target[:end]
        out[inp.ne(self.mask)] = self.pad
        return inp, out

    def group_of_columns(self, width, device=None):
        """(width,) long: the group of each column of a contiguous layout, column // k (cached)."""
        return self._columns(width, device)[0]

    def _columns(self, width, device):
        """(group of each column: column // k, whether it is a Filler column: column % k != 0), cached."""
        key = (width, str(device))
        cache = self.__dict__.setdefault("_column_cache", {})
        if key not in cache:
            column = torch.arange(width, device=device)
            cache[key] = (torch.div(column, self.k, rounding_mode="floor"), column % self.k != 0)
        return cache[key]

    # ---- positions ----------------------------------------------------------------------
    def outliner_positions(self, length, device=None):
        """Sentence positions of ``length`` Outliner steps: 0, k, 2k, ..."""
        return torch.arange(length, device=device) * self.k

    @staticmethod
    def positions(length, device=None):
        """Sentence positions of a contiguous layout (AIC, NAIC, Filler): 0, 1, 2, ..."""
        return torch.arange(length, device=device)

    def positions_of(self, kind, length, device=None):
        """Sentence positions of ``length`` input tokens of sample ``kind``."""
        if kind == "outliner":
            return self.outliner_positions(length, device)
        return self.positions(length, device)

    # ---- batches ---------------------------------------------------------------------------
    def collate(self, pairs):
        """[(input, target)] -> (B x T inputs, B x T targets), right-padded."""
        inputs = data_utils.collate_tokens([p[0] for p in pairs], self.pad)
        targets = data_utils.collate_tokens([p[1] for p in pairs], self.pad)
        return inputs, targets

    def batch(self, kind, targets):
        """Samples of ``kind`` for a whole batch, without a Python loop over sentences.

        Args:
            kind: "aic", "naic", "outliner" or "filler".
            targets: (B, L) right-padded targets, each row words + ``</s>``.
        Returns:
            (inputs, outputs): (B, T) each, right-padded, row b equal to ``collate`` of the
            single-sentence sample of row b (up to trailing padding columns).
        """
        pad, eos = self.pad, self.eos
        lengths = targets.ne(pad).sum(-1)  # L_b, </s> included
        targets = targets[:, : int(lengths.max())]  # a sub-batch is no wider than its longest row
        if kind in ("aic", "outliner"):
            if kind == "outliner":
                targets, lengths = self._outlines(targets, lengths)
            return aic_inputs(targets, self.bog, pad), targets
        if kind == "naic":
            words = targets[:, :-1].masked_fill(targets[:, :-1].eq(eos), pad)
            return torch.full_like(words, self.mask).masked_fill(words.eq(pad), pad), words
        if kind != "filler":
            raise ValueError(f"unknown sample kind {kind!r}")
        inputs = self.filler_inputs(*self._outlines(targets, lengths))
        width = inputs.size(1)
        padded = F.pad(targets, (0, max(0, width - targets.size(1))), value=pad)
        outputs = padded[:, :width].masked_fill(inputs.ne(self.mask), pad)
        return inputs, outputs

    def filler_inputs(self, outlines, outline_lengths):
        """(N, m) right-padded outlines (each ending in ``</s>``) and their lengths m_n ->
        (N, k * (m_max - 1)) Filler inputs: every outline word followed by k - 1 ``<mask>``s,
        right-padded (the batched :meth:`filler_input`)."""
        k = self.k
        width = k * max(outlines.size(1) - 1, 1)
        group, filled = self._columns(width, outlines.device)
        inputs = outlines[:, group].masked_fill(filled, self.mask)
        return inputs.masked_fill(self._beyond((outline_lengths - 1) * k, width), self.pad)

    def _outlines(self, targets, lengths):
        """(B, L) targets -> (B, m_max) right-padded outlines and their lengths m_b."""
        k, eos, pad = self.k, self.eos, self.pad
        firsts = (lengths - 1) // k + 1  # group-first tokens of y, </s> among them or not
        needs_eos = (lengths - 1) % k != 0
        outline_lengths = firsts + needs_eos.long()
        width = int(outline_lengths.max()) if outline_lengths.numel() else 1
        outlines = targets[:, ::k]
        outlines = F.pad(outlines, (0, max(0, width + 1 - outlines.size(1))), value=pad)
        outlines = outlines.scatter(1, firsts[:, None], torch.where(needs_eos, eos, pad)[:, None].to(outlines))
        return outlines[:, :width].masked_fill(self._beyond(outline_lengths, width), pad), outline_lengths

    @staticmethod
    def _beyond(lengths, width):
        """(B, width) bool, True at columns >= each row's length."""
        return torch.arange(width, device=lengths.device)[None, :] >= lengths[:, None]


class MixedBatch:
    """Samples of several kinds as one decoder batch: what one training pass consumes.

    Attributes:
        inputs, outputs: (R, T) right-padded tokens; ``outputs`` is padding where no loss applies.
        positions: (R, T) sentence positions of ``inputs`` (0, k, 2k, ... on Outliner rows).
        attn_mask: (R, T, T) additive self-attention mask (causal rows: -inf above the diagonal).
        rows: (R,) the batch sentence each row comes from (to pick its image).
        kinds: (R,) index into :data:`KINDS` of each row.
    """

    def __init__(self, layout, targets, rows_of_kind):
        """``targets``: (B, L) right-padded; ``rows_of_kind``: {kind: (n,) sentence indices}."""
        pieces = []
        for kind_id, kind in enumerate(KINDS):
            rows = rows_of_kind.get(kind)
            if rows is None or rows.numel() == 0:
                continue
            inputs, outputs = layout.batch(kind, targets.index_select(0, rows))
            positions = layout.positions_of(kind, inputs.size(1), inputs.device).expand_as(inputs)
            pieces.append((inputs, outputs, positions, rows, torch.full_like(rows, kind_id)))
        if not pieces:
            raise ValueError("MixedBatch needs at least one sentence")
        width = max(p[0].size(1) for p in pieces)

        def stack(index, fill):
            return torch.cat([F.pad(p[index], (0, width - p[index].size(1)), value=fill)
                              for p in pieces])

        outputs = stack(1, layout.pad)
        keep = outputs.ne(layout.pad).any(-1)  # rows with nothing to learn (k = 1 Filler, empty caption)
        self.inputs, self.outputs, self.positions = stack(0, layout.pad)[keep], outputs[keep], stack(2, 0)[keep]
        self.rows = torch.cat([p[3] for p in pieces])[keep]
        self.kinds = torch.cat([p[4] for p in pieces])[keep]
        causal = torch.tensor([LAYOUT_OF_KIND[k] == CAUSAL for k in KINDS], device=self.kinds.device)[self.kinds]
        future = torch.ones(width, width, dtype=torch.bool, device=self.kinds.device).triu(1)
        blocked = causal[:, None, None] & future
        self.attn_mask = torch.zeros(blocked.shape, device=blocked.device).masked_fill(blocked, float("-inf"))
