"""The four decoding modes: SAIC k = 1 is exactly AIC; batching changes nothing; the
Outliner + Filler merge cuts at </s> and scores by eq. 10; every mode returns fairseq's format."""
import argparse

import pytest
import torch

from conftest import first_batch, setup_task_and_model, trained_task_and_model
from saic_fairseq.generators import build_caption_generator
from saic_fairseq.generators.decoder_call_counter import DecoderCallCounter
from saic_fairseq.modules.outliner_filler_layout import layout_of


def gen_args(beam):
    return argparse.Namespace(beam=beam, max_len_a=0, max_len_b=200, min_len=1, unnormalized=False, lenpen=1.0,
                              unkpen=0.0, temperature=1.0, no_repeat_ngram_size=0)


@pytest.fixture(scope="module")
def k1(proxy_data, trained_state):
    return trained_task_and_model(proxy_data, trained_state, 1, ["--outline-beam", "4", "--fill-beam", "4"])


@pytest.fixture(scope="module")
def k3(proxy_data, trained_state):
    return trained_task_and_model(proxy_data, trained_state, 3, ["--outline-beam", "4", "--fill-beam", "2"])


@pytest.mark.parametrize("batch_size", [1, 8])
def test_saic_with_k1_is_exactly_aic(k1, batch_size):
    task, model = k1
    sample = first_batch(task, batch_size=batch_size)
    aic = build_caption_generator(task, [model], gen_args(4), decoding="aic").generate([model], sample)
    saic = build_caption_generator(task, [model], gen_args(4), decoding="saic").generate([model], sample)
    lengths = set()
    for a_hypos, s_hypos in zip(aic, saic):
        assert len(a_hypos) == len(s_hypos) == 4
        for a, s in zip(a_hypos, s_hypos):
            assert a["tokens"].tolist() == s["tokens"].tolist()
            assert float(a["score"]) == float(s["score"])
            assert torch.equal(a["positional_scores"], s["positional_scores"])
            lengths.add(len(a["tokens"]))
    if batch_size > 1:
        assert len(lengths) > 1, "hypotheses of one length only: the test would not see mixed-length beams"


def test_saic_batch_equals_one_by_one(k3):
    task, model = k3
    sample = first_batch(task, batch_size=6)
    generator = build_caption_generator(task, [model], gen_args(1), decoding="saic")
    batched = generator.generate([model], sample)
    for row in range(6):
        single = {
            "id": sample["id"][row : row + 1],
            "net_input": {key: None if value is None else value[row : row + 1]
                          for key, value in sample["net_input"].items()},
        }
        regions = int((~single["net_input"]["padding_mask"]).sum())
        for key in ("features", "padding_mask"):
            single["net_input"][key] = single["net_input"][key][:, :regions]
        alone = generator.generate([model], single)[0]
        assert [h["tokens"].tolist() for h in alone] == [h["tokens"].tolist() for h in batched[row]]
        torch.testing.assert_close(torch.stack([h["score"] for h in alone]),
                                   torch.stack([h["score"] for h in batched[row]]), atol=1e-4, rtol=0)


def test_fill_merges_outline_and_filler_and_cuts_at_first_eos(k3):
    task, model = k3
    generator = build_caption_generator(task, [model], gen_args(1), decoding="saic")
    lay = layout_of(task)
    eos, a, d = lay.eos, 10, 13
    outline_scores = torch.tensor([[-1.0, -2.0, -3.0]])  # outline a d </s>, score -6 / 3
    filler_input = lay.filler_input(torch.tensor([a, d]))[None]  # a M M d M M
    fill_tokens = torch.tensor([[99, 11, eos, 99, 12, 12]])  # </s> inside the first group
    fill_scores = torch.tensor([[-9.0, -0.5, -0.25, -9.0, -7.0, -7.0]])
    tokens, positional, lengths, scores = generator.merge(filler_input, filler_input.eq(lay.mask), fill_tokens,
                                                          fill_scores, outline_scores, torch.tensor([3]),
                                                          torch.tensor([-6.0 / 3]))
    n = int(lengths[0])
    assert tokens[0, :n].tolist() == [a, 11, eos]
    assert positional[0, :n].tolist() == [-1.0, -0.5, -0.25]
    # eq. 10: every Outliner term (3) + the Filler terms kept in the caption (2), / 5 tokens
    assert float(scores[0]) == pytest.approx((-6.0 - 0.75) / 5)


@pytest.mark.parametrize("mode", ["aic", "saic", "naic", "ir-naic"])
def test_every_mode_returns_fairseq_hypotheses(k3, mode):
    task, model = k3
    sample = first_batch(task, batch_size=5)
    generator = build_caption_generator(task, [model], gen_args(2), decoding=mode)
    with DecoderCallCounter(model.decoder) as calls:
        hypos = generator.generate([model], sample)
    assert len(hypos) == 5
    forbidden = {task.bog_idx, task.mask_idx, task.target_dictionary.pad()}
    for sentence in hypos:
        best = sentence[0]
        tokens = best["tokens"]
        assert tokens.dim() == 1 and tokens[-1] == task.target_dictionary.eos()
        assert not forbidden & set(tokens.tolist())
        assert tokens[:-1].ne(task.target_dictionary.eos()).all()
        assert best["positional_scores"].shape == tokens.shape
        assert [float(h["score"]) for h in sentence] == sorted((float(h["score"]) for h in sentence), reverse=True)
    if mode == "aic":
        longest = max(len(s[0]["tokens"]) for s in hypos)
        assert longest <= calls.count <= task.cfg.max_target_positions
    elif mode == "naic":
        assert calls.count == 1
    elif mode == "ir-naic":
        assert calls.count == task.cfg.iterations
    elif mode == "saic":  # outline steps (the Filler may cut the caption shorter) + one Filler pass
        assert 2 <= calls.count <= -(-task.cfg.max_target_positions // 3) + 2


def test_fill_beam_larger_than_outline_beam_is_refused(proxy_data):
    task, model, _, _ = setup_task_and_model(proxy_data, extra=["--outline-beam", "1", "--fill-beam", "2"])
    with pytest.raises(ValueError, match="--fill-beam .2. must not exceed --outline-beam .1."):
        build_caption_generator(task, [model], gen_args(1), decoding="saic")


@pytest.mark.parametrize("group_size", [1, 3])
@pytest.mark.parametrize("options", [{}, {"len_penalty": 0.5, "unk_penalty": 2.0, "min_len": 3},
                                     {"normalize_scores": False, "temperature": 0.7}])
def test_greedy_search_equals_fairseq_beam_1(proxy_data, trained_state, group_size, options):
    """GreedySearch (AIC b1 and the SAIC Outliner with M_out = 1) gives fairseq's
    SequenceGenerator's beam-1 hypotheses token for token, at the Outliner's positions too, its
    books kept in tensors or on the host alike."""
    from saic_fairseq.generators.aic_generator import AICSequenceGenerator
    from saic_fairseq.generators.greedy_search import GreedySearch
    from saic_fairseq.generators.outliner_model import OutlinerModel

    task, model = trained_task_and_model(proxy_data, trained_state, group_size)
    lay = layout_of(task)
    sample = first_batch(task, batch_size=16)
    outliner = OutlinerModel(model, lay)
    max_len = {1: 6, 3: 3}[group_size]  # short enough that some captions hit the limit
    fairseq_search = AICSequenceGenerator([outliner], task.target_dictionary, lay.bog, beam_size=1, max_len_a=0,
                                          max_len_b=max_len, **options)
    encoder_out = model.encoder.forward_torchscript(sample["net_input"])
    outliner.encoder.encoder_out = encoder_out
    expected = fairseq_search.generate([outliner], sample)
    results = [GreedySearch(model.decoder, task.target_dictionary, lay.bog, lay.outliner_positions, max_len,
                            bookkeeping=books, **options).search(encoder_out) for books in ("tensors", "host")]
    for on_tensors, on_host in zip(*results):  # the books in tensors and in Python lists: the same bits
        assert on_tensors.dtype == on_host.dtype and torch.equal(on_tensors, on_host)
    tokens, positional, lengths, scores = results[0]
    assert lengths.tolist() == [len(h[0]["tokens"]) for h in expected]
    assert any(n == max_len + 1 for n in lengths.tolist())  # the forced </s> at the length limit is covered
    for row, hypos in enumerate(expected):
        n = int(lengths[row])
        assert tokens[row, :n].tolist() == hypos[0]["tokens"].tolist()
        assert tokens[row, n:].eq(task.target_dictionary.pad()).all()
        torch.testing.assert_close(positional[row, :n], hypos[0]["positional_scores"], atol=1e-4, rtol=0)
        torch.testing.assert_close(scores[row], hypos[0]["score"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("books", ["tensors", "host"])
def test_greedy_search_cuts_its_batch_to_the_open_rows(proxy_data, trained_state, books):
    """Once at most half of the batch's rows are open the search goes on with those alone
    (fewer rows per decoder call, as many calls), and every row's tokens are those of the uncut
    search."""
    from saic_fairseq.generators import greedy_search

    task, model = trained_task_and_model(proxy_data, trained_state, 1)
    lay = layout_of(task)
    sample = first_batch(task, batch_size=16)
    encoder_out = model.encoder.forward_torchscript(sample["net_input"])
    greedy = greedy_search.GreedySearch(model.decoder, task.target_dictionary, lay.bog, lay.outliner_positions, 12,
                                        bookkeeping=books)
    runs = []
    assert greedy.cut_when_open == greedy_search.CUT_WHEN_OPEN == 0.5
    for cut_when_open in (0.5, 0.0):  # 0: never cut
        greedy.cut_when_open = cut_when_open
        with DecoderCallCounter(model.decoder, record=True) as calls:
            results = greedy.search(encoder_out)
        runs.append(([args[0].size(0) for args, _ in calls.recorded], results))
    (cut_rows, cut), (uncut_rows, uncut) = runs
    assert uncut_rows == [16] * len(uncut_rows) and len(cut_rows) == len(uncut_rows)
    assert cut_rows[0] == 16 and cut_rows[-1] < 8 and cut_rows == sorted(cut_rows, reverse=True)
    tokens, positional, lengths, scores = cut
    assert torch.equal(tokens, uncut[0]) and torch.equal(lengths, uncut[2])
    torch.testing.assert_close(positional, uncut[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(scores, uncut[3], atol=1e-5, rtol=0)
    assert int(lengths.max()) > int(lengths.float().median())  # a long caption outlived most rows


def test_aic_beam_1_and_saic_m_out_1_use_the_greedy_loop(k3):
    from saic_fairseq.generators.greedy_search import GreedyGenerator

    task, model = k3
    assert isinstance(build_caption_generator(task, [model], gen_args(1), decoding="aic"), GreedyGenerator)
    assert build_caption_generator(task, [model], gen_args(1), decoding="saic", outline_beam=1,
                                   fill_beam=1).greedy is not None
    blocked = gen_args(1)
    blocked.no_repeat_ngram_size = 2  # greedy does not block n-grams: fairseq's search does it
    assert not isinstance(build_caption_generator(task, [model], blocked, decoding="aic"), GreedyGenerator)
    assert build_caption_generator(task, [model], blocked, decoding="saic", outline_beam=1,
                                   fill_beam=1).greedy is None


def test_fill_iterations_0_is_one_filler_pass_and_refinement_keeps_the_outline(k3):
    """--fill-iterations 0 is the paper's single Filler pass (recomputed here by hand);
    r > 0 re-predicts only filled words: every outline word stays, and r calls are added."""
    task, model = k3
    lay = layout_of(task)
    sample = first_batch(task, batch_size=8)
    one_pass = build_caption_generator(task, [model], gen_args(1), decoding="saic", outline_beam=1, fill_beam=1,
                                       fill_iterations=0, keep_repeats=True)
    encoder_out = model.encoder.forward_torchscript(sample["net_input"])
    rows, outlines, outline_scores, outline_lengths, scores = one_pass.outline(encoder_out, sample)
    inputs = lay.filler_inputs(outlines, outline_lengths)
    logits, _ = model.decoder(inputs, encoder_out, positions=lay.positions(inputs.size(1)),
                              self_attn_layout="bidirectional")
    lprobs = torch.log_softmax(logits.float(), -1)
    lprobs[..., [task.target_dictionary.pad(), lay.bog, lay.mask]] = float("-inf")
    fill_scores, fill_tokens = lprobs.max(-1)
    tokens, _, lengths, by_hand = one_pass.merge(inputs, inputs.eq(lay.mask), fill_tokens, fill_scores,
                                                 outline_scores, outline_lengths, scores)
    got = one_pass.generate([model], sample)
    for row, hypos in enumerate(got):
        assert hypos[0]["tokens"].tolist() == tokens[row, : int(lengths[row])].tolist()
        assert float(hypos[0]["score"]) == float(by_hand[row])

    refined = build_caption_generator(task, [model], gen_args(1), decoding="saic", outline_beam=1, fill_beam=1,
                                      fill_iterations=2, keep_repeats=True)
    with DecoderCallCounter(model.decoder) as calls:
        again = refined.generate([model], sample)
    assert calls.count == outlines.size(1) + 1 + 2
    for row, hypos in enumerate(again):
        a = hypos[0]["tokens"].tolist()
        outline_words = outlines[row, : int(outline_lengths[row]) - 1].tolist()
        assert a[:: lay.k][: len(outline_words)] == outline_words[: len(a[:: lay.k])]
    assert all(h[0]["steps"] == int(n) + 3 for h, n in zip(again, outline_lengths))


def test_best_candidates_picks_each_sentences_first_best():
    from saic_fairseq.generators.mask_predict_generator import best_candidates

    scores = torch.tensor([0.1, 0.5, 0.5, -1.0, -2.0, 3.0, -0.5])
    rows = torch.tensor([0, 0, 0, 1, 1, 2, 1])  # candidates of a sentence need not be adjacent
    assert best_candidates(scores, rows, 3).tolist() == [1, 6, 5]


def test_repeats_and_compact_by_hand():
    from saic_fairseq.generators.repeat_removal import compact, repeats

    tokens = torch.tensor([[5, 5, 5, 6, 6, 2, 1], [7, 7, 8, 8, 8, 9, 2]])
    droppable = torch.tensor([[0, 1, 1, 0, 1, 0, 0], [0, 0, 1, 1, 0, 1, 0]], dtype=torch.bool)
    dropped = repeats(tokens, droppable)
    assert dropped.int().tolist() == [[0, 1, 1, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0, 0]]  # 7 7: the second is no fill
    kept, scores = compact(~dropped, (tokens, 1), (torch.arange(14.0).view(2, 7), 0.0))
    assert kept.tolist() == [[5, 6, 2, 1, 1, 1, 1], [7, 7, 8, 8, 9, 2, 1]]
    assert scores.tolist() == [[0, 3, 5, 6, 0, 0, 0], [7, 8, 9, 11, 12, 13, 0]]


def dedup(tokens, droppable):
    return [t for i, t in enumerate(tokens) if not (droppable(i) and i > 0 and t == tokens[i - 1])]


@pytest.mark.parametrize("mode", ["saic", "naic", "ir-naic"])
def test_dropping_repeats_removes_only_parallel_words_equal_to_the_word_before(k3, mode):
    """Default decoding = the --keep-repeats output with every repeated parallel word removed:
    Filler words only in saic (outline words never), every word in naic / ir-naic."""
    task, model = k3
    k = layout_of(task).k
    sample = first_batch(task, batch_size=16)
    one = dict(outline_beam=1, fill_beam=1)  # one candidate: dropping changes scores, so a ranking could change
    kept = build_caption_generator(task, [model], gen_args(1), decoding=mode, keep_repeats=True, **one)
    dropped = build_caption_generator(task, [model], gen_args(1), decoding=mode, **one)
    assert not task.cfg.keep_repeats  # dropping is the default
    changed = 0
    for a, b in zip(kept.generate([model], sample), dropped.generate([model], sample)):
        a, b = a[0]["tokens"].tolist(), b[0]["tokens"].tolist()
        filled = (lambda i: i % k != 0) if mode == "saic" else (lambda i: True)
        assert b == dedup(a[:-1], filled) + [a[-1]]
        changed += a != b
    assert changed > 0  # the tiny model does repeat words; otherwise this test would prove nothing


@pytest.mark.parametrize("group_size", [3])
def test_greedy_search_word_counts_cut_without_a_call(proxy_data, trained_state, group_size):
    """With word counts a row ends after that many words with a </s> scored 0 and no decoder
    call for it; rows that end by themselves first are unchanged, token for token."""
    from saic_fairseq.generators.greedy_search import GreedySearch

    task, model = trained_task_and_model(proxy_data, trained_state, group_size)
    lay = layout_of(task)
    sample = first_batch(task, batch_size=16)
    encoder_out = model.encoder.forward_torchscript(sample["net_input"])
    greedy = GreedySearch(model.decoder, task.target_dictionary, lay.bog, lay.outliner_positions, 20)
    tokens, positional, lengths, scores = greedy.search(encoder_out)
    words = lengths - 1
    counts = (words + torch.arange(16) % 3 - 1).clamp(min=1)  # one word short, exactly, one word more
    with DecoderCallCounter(model.decoder) as calls:
        cut, cut_positional, cut_lengths, _ = greedy.search(encoder_out, counts)
    greedy.bookkeeping = "tensors"  # 16 rows on a CPU: "auto" kept the books on the host
    for on_host, on_tensors in zip((cut, cut_positional, cut_lengths), greedy.search(encoder_out, counts)):
        assert torch.equal(on_host, on_tensors)
    assert bool((counts < words).any()) and bool((counts > words).any())
    assert calls.count == int(torch.minimum(lengths, counts).max())  # no call for a counted </s>
    eos = task.target_dictionary.eos()
    for row in range(16):
        n, c = int(lengths[row]), int(counts[row])
        if c >= n:  # ended by itself before its count
            assert cut[row, : int(cut_lengths[row])].tolist() == tokens[row, :n].tolist()
            torch.testing.assert_close(cut_positional[row, :n], positional[row, :n], atol=1e-5, rtol=0)
        else:  # reached its count: </s> follows, scored 0
            assert int(cut_lengths[row]) == c + 1
            assert cut[row, : c + 1].tolist() == tokens[row, :c].tolist() + [eos]
            assert float(cut_positional[row, c]) == 0.0


def test_outline_length_from_the_length_head(k3):
    """--outline-length length-head: the Outliner writes at most ceil(N / k) words (N the
    length head's most probable length, summed per group count) and no call goes to the </s>
    after them; eos is the paper's Outliner, the plain greedy outline."""
    task, model = k3
    lay = layout_of(task)
    sample = first_batch(task, batch_size=8)
    encoder_out = model.encoder.forward_torchscript(sample["net_input"])
    from_length = build_caption_generator(task, [model], gen_args(1), decoding="saic", outline_beam=1, fill_beam=1,
                                          keep_repeats=True, outline_length="length-head")
    paper = build_caption_generator(task, [model], gen_args(1), decoding="saic", outline_beam=1, fill_beam=1,
                                    keep_repeats=True, outline_length="eos")
    probs = torch.softmax(model.decoder.length_logits(encoder_out).float(), -1)[:, 1:].tolist()
    by_hand = []
    for row in probs:
        groups = {}
        for words, p in enumerate(row, start=1):
            groups[-(-words // lay.k)] = groups.get(-(-words // lay.k), 0.0) + p
        by_hand.append(max(groups, key=groups.get))
    assert from_length.outline_words(encoder_out).tolist() == by_hand
    _, outlines, _, outline_lengths, _ = paper.outline(encoder_out, sample)
    _, counted, _, counted_lengths, _ = from_length.outline(encoder_out, sample)
    eos = task.target_dictionary.eos()
    assert bool((outline_lengths - 1).ne(torch.tensor(by_hand)).any())  # the count changes some outlines
    for row, groups in enumerate(by_hand):
        natural = int(outline_lengths[row]) - 1  # words before the Outliner's own </s>
        words = min(natural, groups)
        assert counted[row, : words + 1].tolist() == outlines[row, :words].tolist() + [eos]
        assert int(counted_lengths[row]) == words + 1
    for row in range(8):  # one image at a time: calls = outline words written + 1 Filler pass
        single = {"net_input": {k: None if v is None else v[row : row + 1] for k, v in sample["net_input"].items()}}
        with DecoderCallCounter(model.decoder) as calls:
            from_length.generate([model], single)
        natural = int(outline_lengths[row]) - 1
        assert calls.count == (natural + 1 if natural < by_hand[row] else by_hand[row]) + 1


@pytest.mark.parametrize("beam", [1, 4])
def test_prefix_tokens_go_to_sequence_generator_and_other_modes_refuse_them(k3, beam):
    """fairseq-generate --prefix-size P forces each caption's first P words: AIC hands that to
    SequenceGenerator (our searches start at <bog>); the parallel modes and our searches refuse it."""
    from saic_fairseq.generators.aic_generator import AICSequenceGenerator

    task, model = k3
    sample = first_batch(task, batch_size=4)
    prefixed = gen_args(beam)
    prefixed.prefix_size = 1
    generator = build_caption_generator(task, [model], prefixed, decoding="aic")
    assert isinstance(generator, AICSequenceGenerator)
    prefix = sample["target"][:, :1]
    for row, hypos in enumerate(generator.generate([model], sample, prefix_tokens=prefix)):
        assert [int(h["tokens"][0]) for h in hypos] == [int(prefix[row, 0])] * beam
    ours = build_caption_generator(task, [model], gen_args(beam), decoding="aic")
    with pytest.raises(ValueError, match=rf"{type(ours).__name__} does not force prefix tokens"):
        ours.generate([model], sample, prefix_tokens=prefix)
    for decoding in ("saic", "naic", "ir-naic"):
        with pytest.raises(ValueError, match=rf"--prefix-size 1: .* --decoding {decoding} does not"):
            build_caption_generator(task, [model], prefixed, decoding=decoding)
        with pytest.raises(ValueError, match="does not force prefix tokens"):
            build_caption_generator(task, [model], gen_args(beam), decoding=decoding).generate(
                [model], sample, prefix_tokens=prefix)
