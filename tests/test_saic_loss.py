"""The criterion: curriculum schedule, group-aware split and hybrid sampling rates, parts
logged, and training lowers the loss."""
import numpy as np
import pytest
import torch

from conftest import fake_sample, first_batch, setup_task_and_model


@pytest.fixture(scope="module")
def setup(proxy_data):
    return setup_task_and_model(proxy_data, group_size=4, extra=["--max-update", "1000", "--curriculum-lambda", "2"])


def test_curriculum_schedule(setup):
    _, _, criterion, _ = setup
    assert [criterion.group_probability(t) for t in (0, 250, 500, 1000, 1500)] == [0.0, 0.0625, 0.25, 1.0, 1.0]


def test_curriculum_length_under_max_epoch(proxy_data):
    task, _, criterion, _ = setup_task_and_model(proxy_data, extra=["--max-update", "0", "--max-epoch", "3",
                                                                    "--update-freq", "2", "--batch-size", "10"])
    task.load_dataset("train")
    task.get_batch_iterator(task.dataset("train"), max_sentences=10)
    batches = task.train_batches_per_epoch
    assert batches == -(-len(task.dataset("train")) // 10)
    assert criterion.total_updates() == 3 * -(-batches // 2)


def test_group_aware_rate_follows_p_g_over_many_batches(setup):
    _, _, criterion, _ = setup
    criterion.p_hybr = 1.0
    for update, p_g in ((250, 0.0625), (500, 0.25), (750, 0.5625)):
        grouped = total = 0
        for batch in range(200):
            _, plain, group, p = criterion.plan(fake_sample(50, first_id=batch * 50), update, training=True)
            assert p == p_g and sorted(plain + group) == list(range(50))
            grouped, total = grouped + len(group), total + 50
        assert abs(grouped / total - p_g) < 0.02


def test_hybrid_distillation_rate(setup):
    _, _, criterion, _ = setup
    criterion.p_hybr = 0.3
    raw = total = 0
    for batch in range(200):
        targets, _, _, _ = criterion.plan(fake_sample(50, first_id=batch * 50), 10, training=True)
        raw += sum(int(t[0]) == 10 for t in targets)
        total += len(targets)
        assert all(t[t.ne(1)].tolist() in ([10, 10, 10, 2], [20, 20, 2]) for t in targets)  # 1 = padding
    assert abs(raw / total - 0.3) < 0.02


def test_plan_is_reproducible_and_validation_uses_everything(setup):
    _, _, criterion, _ = setup
    criterion.p_hybr = 0.5
    a, b = criterion.plan(fake_sample(40), 300, True), criterion.plan(fake_sample(40), 300, True)
    assert a[1:] == b[1:] and all(torch.equal(x, y) for x, y in zip(a[0], b[0]))
    targets, plain, group, p_g = criterion.plan(fake_sample(5), 300, training=False)
    assert plain == group == list(range(5)) and p_g is None and all(int(t[0]) == 10 for t in targets)


def test_a_sentences_draws_do_not_depend_on_its_batch(setup):
    _, _, criterion, _ = setup
    criterion.p_hybr = 0.5
    whole = fake_sample(40)
    half = {key: value[20:] for key, value in whole.items()}
    targets_all, _, group_all, _ = criterion.plan(whole, 400, True)
    targets_half, _, group_half, _ = criterion.plan(half, 400, True)
    assert [i - 20 for i in group_all if i >= 20] == group_half
    assert all(torch.equal(a, b) for a, b in zip(targets_all[20:], targets_half))


def test_missing_teacher_captions_is_a_clear_error(setup):
    task, _, criterion, _ = setup
    criterion.p_hybr = 0.5
    sample = fake_sample(4)
    del sample["distill_target"]
    with pytest.raises(ValueError, match=r"distill.bin: --distillation hybrid --p-hybr 0.5 needs teacher captions"):
        criterion.plan(sample, 0, training=True)


def test_every_part_is_logged(setup):
    task, model, criterion, _ = setup
    criterion.p_hybr = 1.0
    sample = first_batch(task, split="valid", batch_size=8)
    model.train()
    model.set_num_updates(500)  # p_g = 0.25: both pairs occur in a batch of 8 (seeded)
    _, sample_size, log = criterion(model, sample)
    for part in ("aic", "naic", "outliner", "filler"):
        assert log[f"{part}_ntokens"] > 0 and log[f"{part}_loss"] > 0
    assert sample_size == sum(log[f"{p}_ntokens"] for p in ("aic", "naic", "outliner", "filler"))
    assert log["p_g_sum"] == pytest.approx(0.25 * 8)


def test_training_lowers_the_loss(trained_state):
    _, losses = trained_state
    assert np.mean(losses[-10:]) < losses[0] - 1.5 and np.mean(losses[-10:]) < np.mean(losses[10:20])


def test_one_pass_loss_equals_a_separate_pass_per_part(setup):
    """The criterion's single mixed-batch pass gives the loss of the paper's four separate
    parts (each its own decoder pass over collated single-sentence samples), part by part."""
    from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

    from saic_fairseq.modules.outliner_filler_layout import LAYOUT_OF_KIND

    task, model, criterion, _ = setup
    criterion.p_hybr = 1.0
    sample = first_batch(task, split="valid", batch_size=8)
    model.eval()  # no dropout: the two computations must agree
    with torch.no_grad():
        loss, sample_size, criterion_log = criterion(model, sample)
        targets, plain, group, _ = criterion.plan(sample, 500, training=False)
        net = sample["net_input"]
        encoder_out = model.encoder(net["features"], net["padding_mask"], net.get("boxes"))
        lay, pad = criterion.layout, criterion.padding_idx
        total = 0.0
        for kind, rows in (("aic", plain), ("naic", plain), ("outliner", group), ("filler", group)):
            make = getattr(lay, f"{kind}_sample")
            inputs, target = lay.collate([make(targets[i][targets[i].ne(pad)]) for i in rows])
            logits, _ = model.decoder(inputs, model.encoder.reorder_encoder_out(encoder_out, torch.tensor(rows)),
                                      positions=lay.positions_of(kind, inputs.size(1)),
                                      self_attn_layout=LAYOUT_OF_KIND[kind])
            lprobs = torch.log_softmax(logits.float(), -1).view(-1, logits.size(-1))
            part, _ = label_smoothed_nll_loss(lprobs, target.view(-1, 1), criterion.eps, ignore_index=pad)
            assert criterion_log[f"{kind}_loss"] == pytest.approx(float(part), rel=1e-5)
            assert criterion_log[f"{kind}_ntokens"] == int(target.ne(pad).sum())
            total += float(part)
    assert float(criterion_log["nll_loss"]) > 0 and sample_size == sum(
        criterion_log[f"{k}_ntokens"] for k in ("aic", "naic", "outliner", "filler"))
    assert float(loss) == pytest.approx(total + criterion.length_loss_factor * float(criterion_log["length_loss"]),
                                        rel=1e-5)


def test_cmlm_masks_hide_one_to_all_words_uniformly_and_reproducibly():
    from saic_fairseq.criterions.sentence_draws import masked_words

    lengths = np.array([1, 3, 7, 0] * 500)
    hidden = masked_words(5, 12, np.arange(2000), lengths, 8, stream=2)
    counts = hidden.sum(1)
    assert (hidden & (np.arange(8)[None, :] >= lengths[:, None])).sum() == 0  # never beyond a sentence
    assert counts[lengths == 0].max() == 0 and counts[lengths == 1].min() == 1
    assert counts[lengths > 0].min() >= 1 and (counts <= lengths).all()
    assert sorted(set(counts[lengths == 7])) == list(range(1, 8))  # every count 1..7 occurs
    assert abs(counts[lengths == 7].mean() - 4.0) < 0.2  # uniform in 1..7
    assert abs(hidden[lengths == 7].mean(0)[:7] - 4 / 7).max() < 0.07  # every position alike
    assert np.array_equal(hidden, masked_words(5, 12, np.arange(2000), lengths, 8, stream=2))
    assert not np.array_equal(hidden, masked_words(5, 13, np.arange(2000), lengths, 8, stream=2))


def test_cmlm_naic_rows_show_the_unhidden_words_and_score_the_hidden(proxy_data):
    """--naic-masking cmlm: every NAIC row shows its target word wherever it is not hidden,
    <mask> where it is, and is scored exactly at the hidden words; other kinds unchanged."""
    from saic_fairseq.modules.outliner_filler_layout import KINDS, MixedBatch

    task, model, criterion, _ = setup_task_and_model(proxy_data, group_size=4,
                                                     extra=["--fixed-p-g", "0", "--naic-masking", "cmlm"])
    sample = first_batch(task, split="valid", batch_size=8)
    rows = torch.arange(8)
    batch = MixedBatch(criterion.layout, sample["target"], {"aic": rows, "naic": rows})
    plain = MixedBatch(criterion.layout, sample["target"], {"aic": rows, "naic": rows})
    criterion.show_unmasked_words(batch, sample["id"], 7)
    naic = batch.kinds.eq(KINDS.index("naic"))
    words, pad, mask = plain.outputs[naic], criterion.padding_idx, criterion.layout.mask
    hidden = batch.outputs[naic].ne(pad)
    assert torch.equal(batch.outputs[naic][hidden], words[hidden])
    assert (batch.inputs[naic][hidden] == mask).all()
    shown = words.ne(pad) & ~hidden
    assert shown.any() and torch.equal(batch.inputs[naic][shown], words[shown])
    assert (hidden.sum(-1) >= 1).all()
    assert torch.equal(batch.inputs[~naic], plain.inputs[~naic]) and torch.equal(batch.outputs[~naic],
                                                                                   plain.outputs[~naic])
    model.train()
    model.set_num_updates(7)
    _, _, log = criterion(model, sample)
    criterion.naic_masking = "all"
    _, _, everything = criterion(model, sample)
    assert 8 <= log["naic_ntokens"] < everything["naic_ntokens"] == log["aic_ntokens"] - 8  # AIC also scores </s>
