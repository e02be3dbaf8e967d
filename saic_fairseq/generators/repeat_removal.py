"""Dropping repeated words from parallel (non-autoregressive) predictions.

Words predicted in one parallel pass cannot see each other's choice, so two neighbours often
come out the same ("a man man riding"): the usual post-processing of non-autoregressive
decoders (Gu et al. 2018, "Non-Autoregressive Neural Machine Translation", ICLR; Lee et al.
2018) drops such a word. Here a position may be dropped only if it was predicted in parallel
(the Filler's ``<mask>`` positions; every NAIC / IR-NAIC position), never an Outliner word,
and it is dropped when its token equals the token just before it ("a a a" -> "a").
"""
import torch


def repeats(tokens, droppable):
    """(N, W) bool: the ``droppable`` positions whose token equals the token before it.

    Args:
        tokens: (N, W) tokens; droppable: (N, W) bool, the positions predicted in parallel.
    """
    same = torch.zeros_like(droppable)
    same[:, 1:] = tokens[:, 1:].eq(tokens[:, :-1])
    return same & droppable


def compact(keep, *tensors_and_fills):
    """Each row's kept entries moved to the front in order, the rest filled.

    Args:
        keep: (N, W) bool; tensors_and_fills: pairs (tensor (N, W), fill value).
    Returns:
        the tensors, each (N, W) with row n = its kept entries, then ``fill``.
    """
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    kept = keep.gather(1, order)
    return tuple(t.gather(1, order).masked_fill(~kept, fill) for t, fill in tensors_and_fills)
