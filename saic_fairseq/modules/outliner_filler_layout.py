"""How one caption becomes the inputs and targets of AIC, NAIC, Outliner and Filler.

DESIGN.md, "Token-level semantics". For a target ``y = w_1 .. w_N </s>`` (length L = N + 1)
and group size k, group g covers sentence positions g*k .. g*k + k - 1:

    outline  z = y[0], y[k], y[2k], ...  (+ </s> if </s> is not a group-first token)
    Outliner input  <bog> z_0 .. z_{m-2}   at sentence positions 0, k, 2k, ...
    Filler input    z_0 <mask>*(k-1) z_1 <mask>*(k-1) ...   (outline words, no </s>)
    Filler target   y at every <mask> position before the end of y, padding elsewhere

With k = 1 the Outliner is exactly the AIC decoder and the Filler has nothing to fill.
All functions take and return 1-D LongTensors without padding unless they say otherwise.
"""
import torch
from fairseq.data import data_utils


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

    # ---- positions ----------------------------------------------------------------------
    def outliner_positions(self, length, device=None):
        """Sentence positions of ``length`` Outliner steps: 0, k, 2k, ..."""
        return torch.arange(length, device=device) * self.k

    @staticmethod
    def positions(length, device=None):
        """Sentence positions of a contiguous layout (AIC, NAIC, Filler): 0, 1, 2, ..."""
        return torch.arange(length, device=device)

    # ---- batches ---------------------------------------------------------------------------
    def collate(self, pairs):
        """[(input, target)] -> (B x T inputs, B x T targets), right-padded."""
        inputs = data_utils.collate_tokens([p[0] for p in pairs], self.pad)
        targets = data_utils.collate_tokens([p[1] for p in pairs], self.pad)
        return inputs, targets
