"""Token layouts of docs/design.md for k = 1..4, lengths that are and are not multiples of k."""
import pytest
import torch

from saic_fairseq.modules.outliner_filler_layout import OutlinerFillerLayout

PAD, EOS, BOG, MASK = 1, 2, 50, 51
M, P, E = MASK, PAD, EOS  # shorthand in the tables below
a, b, c, d, e = 10, 11, 12, 13, 14


def layout(k):
    return OutlinerFillerLayout(k, bog=BOG, mask=MASK, eos=EOS, pad=PAD)


# (k, target words, outline, filler input, filler target)
CASES = [
    (2, [a, b, c, d], [a, c, E], [a, M, c, M], [P, b, P, d]),           # N = 4 = 2k: </s> is group-first
    (2, [a, b, c], [a, c, E], [a, M, c, M], [P, b, P, E]),              # </s> inside the last group
    (3, [a, b, c, d], [a, d, E], [a, M, M, d, M, M], [P, b, c, P, E, P]),  # </s> mid-group, pad after it
    (3, [a, b, c, d, e], [a, d, E], [a, M, M, d, M, M], [P, b, c, P, e, E]),
    (4, [a, b, c, d], [a, E], [a, M, M, M], [P, b, c, d]),               # N = k: outline is one word
    (4, [a], [a, E], [a, M, M, M], [P, E, P, P]),                        # one-word caption
    (4, [a, b, c, d, e], [a, e, E], [a, M, M, M, e, M, M, M], [P, b, c, d, P, E, P, P]),
    (1, [a, b, c], [a, b, c, E], [a, b, c], [P, P, P]),                  # k = 1: AIC, nothing to fill
]


@pytest.mark.parametrize("k, words, outline, filler_in, filler_out", CASES)
def test_layouts(k, words, outline, filler_in, filler_out):
    lay = layout(k)
    y = torch.tensor(words + [EOS])
    assert lay.outline(y).tolist() == outline
    inp, out = lay.outliner_sample(y)
    assert inp.tolist() == [BOG] + outline[:-1] and out.tolist() == outline
    assert lay.outliner_positions(len(outline)).tolist() == [g * k for g in range(len(outline))]
    inp, out = lay.filler_sample(y)
    assert inp.tolist() == filler_in and out.tolist() == filler_out
    assert len(filler_in) == k * (len(outline) - 1)


def test_aic_and_naic_samples():
    lay = layout(3)
    y = torch.tensor([a, b, c, EOS])
    inp, out = lay.aic_sample(y)
    assert inp.tolist() == [BOG, a, b, c] and out.tolist() == [a, b, c, EOS]
    inp, out = lay.naic_sample(y)
    assert inp.tolist() == [MASK] * 3 and out.tolist() == [a, b, c]


def test_k1_outliner_is_aic():
    lay = layout(1)
    y = torch.tensor([a, b, c, d, EOS])
    assert [t.tolist() for t in lay.outliner_sample(y)] == [t.tolist() for t in lay.aic_sample(y)]


def test_collate_pads_on_the_right():
    lay = layout(2)
    inputs, targets = lay.collate([lay.filler_sample(torch.tensor([a, EOS])),
                                   lay.filler_sample(torch.tensor([a, b, c, d, EOS]))])
    assert inputs.tolist() == [[a, M, P, P], [a, M, c, M]]
    assert targets.tolist() == [[P, E, P, P], [P, b, P, d]]


def test_group_size_must_be_positive():
    with pytest.raises(ValueError, match="group size must be >= 1"):
        layout(0)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("kind", ["aic", "naic", "outliner", "filler"])
def test_batch_layout_equals_one_sentence_at_a_time(k, kind):
    """OutlinerFillerLayout.batch (vectorised, what training uses) == collate of the single-
    sentence samples, for every length 1..13 in one right-padded batch (wider than its rows,
    as a sub-batch picked from a longer one is)."""
    lay = layout(k)
    g = torch.Generator().manual_seed(k)
    sentences = [torch.cat([torch.randint(10, 40, (n,), generator=g), torch.tensor([EOS])]) for n in range(1, 14)]
    targets = lay.collate([(s, s) for s in sentences])[1]
    targets = torch.cat([targets, torch.full((len(sentences), 3), PAD)], 1)  # a batch wider than its rows
    make = {"aic": lay.aic_sample, "naic": lay.naic_sample, "outliner": lay.outliner_sample,
            "filler": lay.filler_sample}[kind]
    want_in, want_out = lay.collate([make(s) for s in sentences])
    got_in, got_out = lay.batch(kind, targets)
    width = want_in.size(1)
    assert got_in.size(1) >= width and got_in[:, width:].eq(PAD).all() and got_out[:, width:].eq(PAD).all()
    assert torch.equal(got_in[:, :width], want_in) and torch.equal(got_out[:, :width], want_out)


def test_mixed_batch_rows_positions_and_masks():
    from saic_fairseq.modules.outliner_filler_layout import KINDS, MixedBatch

    lay = layout(2)
    targets = lay.collate([(s, s) for s in (torch.tensor([a, b, c, EOS]), torch.tensor([d, e, EOS]))])[1]
    mixed = MixedBatch(lay, targets, {"aic": torch.tensor([1]), "naic": torch.tensor([1]),
                                      "outliner": torch.tensor([0]), "filler": torch.tensor([0])})
    assert mixed.rows.tolist() == [1, 1, 0, 0]
    assert [KINDS[i] for i in mixed.kinds.tolist()] == ["aic", "naic", "outliner", "filler"]
    assert mixed.inputs.tolist() == [[BOG, d, e, P], [M, M, P, P], [BOG, a, c, P], [a, M, c, M]]  # padded to 4
    assert mixed.outputs.tolist() == [[d, e, E, P], [d, e, P, P], [a, c, E, P], [P, b, P, E]]
    assert mixed.positions[2].tolist()[:3] == [0, 2, 4] and mixed.positions[0].tolist()[:3] == [0, 1, 2]
    causal = torch.isinf(mixed.attn_mask)
    assert causal[0].equal(torch.ones(4, 4, dtype=torch.bool).triu(1)) and not causal[1].any()
    assert causal[2].any() and not causal[3].any()


def test_mixed_batch_drops_rows_with_nothing_to_learn():
    from saic_fairseq.modules.outliner_filler_layout import MixedBatch

    lay = layout(1)  # k = 1: the Filler has no <mask> to fill
    targets = torch.tensor([[a, b, EOS]])
    mixed = MixedBatch(lay, targets, {"outliner": torch.tensor([0]), "filler": torch.tensor([0])})
    assert mixed.rows.tolist() == [0] and mixed.kinds.tolist() == [2]
