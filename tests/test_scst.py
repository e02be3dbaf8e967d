"""saic_scst: the CIDEr-D reward equals pycocoevalcap's, its document frequencies are cached,
the sampler's greedy path equals fairseq's beam 1, bad references fail clearly, and a short
fairseq-train run raises the greedy CIDEr-D of fixed training images."""
import json
import os
import re

import pytest
import torch
from fairseq.data import data_utils

from conftest import clean_env, common, copy_data, fairseq_cli, setup_task_and_model, trained_task_and_model
from saic_fairseq.criterions.scst_sampler import sample_captions
from saic_fairseq.evaluation.corpus_cider import CorpusCiderD
from saic_fairseq.evaluation.reference_captions import ReferenceCaptions

REFS = {
    "1": ["a man riding a horse on a beach", "a person rides a horse along the sea", "a horse and its rider"],
    "2": ["a plate of food on a table", "a table with a plate of food", "food on a white plate"],
    "3": ["a cat sitting on a table", "a cat on top of a wooden table", "a small cat sits on the table"],
}
SAMPLES = ["a man riding a horse", "a horse on a table", "a plate of food", "a man on a beach",
           "a cat on a table", "a table with a cat"]


def scst(data, *extra):
    return setup_task_and_model(data, extra=extra, criterion=["saic_scst"])


def test_reward_equals_pycocoevalcap_cider_d(proxy_data, tmp_path):
    from pycocoevalcap.cider.cider import Cider

    task, _, criterion, _ = scst(proxy_data)
    d = task.target_dictionary
    criterion.cider = CorpusCiderD(REFS.values())  # the document frequencies of the three images
    ids = ["1", "3", "2", "1", "3", "2"]
    tokens = data_utils.collate_tokens([d.encode_line(s, add_if_not_exist=False).long() for s in SAMPLES], d.pad())
    assert not tokens.eq(d.unk()).any()
    ours = criterion.rewards(tokens, [REFS[i] for i in ids])
    for k, (sample, image) in enumerate(zip(SAMPLES, ids)):
        # pycocoevalcap takes its frequencies from the images scored: score all three at once
        hypotheses = {i: [SAMPLES[ids.index(i)] if i != image else sample] for i in REFS}
        _, per_image = Cider().compute_score(REFS, hypotheses)
        assert float(ours[k]) == pytest.approx(per_image[list(REFS).index(image)], abs=1e-9)


def test_document_frequencies_are_computed_once_and_cached(tmp_path):
    path = tmp_path / "train.refs.json"
    path.write_text(json.dumps(REFS))
    cache = str(tmp_path / "df.json")
    first = CorpusCiderD.cached(ReferenceCaptions(str(path)), cache)
    mtime = os.path.getmtime(cache)
    second = CorpusCiderD.cached(ReferenceCaptions(str(path)), cache)
    assert os.path.getmtime(cache) == mtime and second.images == 3
    refs = list(REFS.values())
    assert list(second.scores(SAMPLES[:3], refs[:3])) == list(first.scores(SAMPLES[:3], refs[:3]))
    path.write_text(json.dumps({**REFS, "4": ["a dog on a sofa"]}))
    assert CorpusCiderD.cached(ReferenceCaptions(str(path)), cache).images == 4  # references changed: recomputed


def test_greedy_sampling_equals_fairseq_beam_1(proxy_data, trained_state):
    import argparse

    from conftest import first_batch
    from saic_fairseq.generators import build_caption_generator
    from saic_fairseq.modules.outliner_filler_layout import layout_of, never_generated

    task, model = trained_task_and_model(proxy_data, trained_state, group_size=3)
    sample = first_batch(task, "test", batch_size=16)
    d = task.target_dictionary
    hypos = build_caption_generator(task, [model], argparse.Namespace(beam=1), "aic").generate([model], sample)
    encoder_out = model.encoder(sample["net_input"]["features"], sample["net_input"]["padding_mask"])
    greedy = sample_captions(model.decoder, encoder_out, task.bog_idx, d.eos(), d.pad(), 64,
                             never_generated(d, layout_of(task)), greedy=True)
    for row, hypo in zip(greedy, hypos):
        assert row[row.ne(d.pad())].tolist() == hypo[0]["tokens"].tolist()
    rows = torch.arange(len(hypos)).repeat_interleave(4)
    drawn = sample_captions(model.decoder, model.encoder.reorder_encoder_out(encoder_out, rows), task.bog_idx,
                            d.eos(), d.pad(), 64, never_generated(d, layout_of(task)),
                            generator=torch.Generator().manual_seed(0))
    assert (drawn.eq(d.eos()).sum(1) == 1).all()  # every sample ends exactly once
    assert len({tuple(r.tolist()) for r in drawn}) > len(hypos)  # and they differ


def test_missing_references_name_the_file_and_the_id(proxy_data, tmp_path):
    data = copy_data(proxy_data, tmp_path / "data")
    os.remove(f"{data}/train.refs.json")
    with pytest.raises(ValueError, match=r"train.refs.json: SCST needs the references of this split"):
        scst(data)
    refs = json.load(open(f"{proxy_data}/train.refs.json"))
    missing = open(f"{data}/train.ids").read().split()[0]
    del refs[missing]
    json.dump(refs, open(f"{data}/train.refs.json", "w"))
    task, model, criterion, _ = scst(data)
    task.load_dataset("train")
    sample = next(iter(task.get_batch_iterator(task.dataset("train"), max_sentences=len(task.dataset("train")))
                       .next_epoch_itr(shuffle=False)))
    model.train()
    with pytest.raises(ValueError, match=rf"train.refs.json, image id {missing}: no references for this image"):
        criterion(model, sample)


def test_mean_baseline_needs_two_samples(proxy_data):
    with pytest.raises(ValueError, match="--scst-samples 1: the mean baseline needs at least 2"):
        scst(proxy_data, "--scst-baseline", "mean", "--scst-samples", "1")


def greedy_cider_of_training_images(data, checkpoint, images):
    """Mean greedy CIDEr-D of the first ``images`` training images (training references)."""
    from saic_fairseq.model_loading import load_model_for_split
    from saic_fairseq.modules.outliner_filler_layout import layout_of, never_generated

    task, model = load_model_for_split(checkpoint, data, f"{data}/features.h5", "train")
    dataset, d = task.dataset("train"), task.target_dictionary
    sample = dataset.collater([dataset[i] for i in range(images)])
    refs = ReferenceCaptions(f"{data}/train.refs.json")
    encoder_out = model.encoder(sample["net_input"]["features"], sample["net_input"]["padding_mask"])
    greedy = sample_captions(model.decoder, encoder_out, task.bog_idx, d.eos(), d.pad(), 64,
                             never_generated(d, layout_of(task)), greedy=True)
    captions = [d.string(r, extra_symbols_to_ignore={d.eos(), d.pad()}) for r in greedy]
    return float(CorpusCiderD(refs.all()).scores(captions, refs.lookup(sample["image_id"].tolist())).mean())


@pytest.fixture(scope="module")
def xe_teacher(karpathy_split, tmp_path_factory):
    """40 training images and a tiny AIC model trained on them with cross entropy (150 updates)."""
    from conftest import binarize
    from saic_fairseq.data.text_proxy import write_text_proxy

    data = str(tmp_path_factory.mktemp("scst"))
    write_text_proxy(data, karpathy_split, {"train": 40, "valid": 10, "test": 10}, dim=16, seed=2)
    binarize(data)
    fairseq_cli("fairseq-train", *common(data), "--arch", "saic_tiny", "--criterion", "label_smoothed_cross_entropy",
                "--optimizer", "adam", "--lr", "2e-3", "--max-tokens", "2000", "--max-update", "150", "--seed", "3",
                "--save-dir", f"{data}/xe", "--no-epoch-checkpoints", "--disable-validation", "--num-workers", "0",
                env=clean_env())
    return data, f"{data}/xe/checkpoint_last.pt"


@pytest.mark.parametrize("baseline", ["greedy", "mean"])
def test_scst_raises_the_greedy_cider_of_training_images(xe_teacher, tmp_path, baseline):
    data, teacher = xe_teacher
    save = str(tmp_path / "scst")
    run = fairseq_cli("fairseq-train", *common(data), "--arch", "saic_tiny", "--dropout", "0",
                      "--criterion", "saic_scst", "--scst-baseline", baseline, "--scst-samples", "8",
                      "--unique-images", "--batch-size", "40", "--optimizer", "adam", "--lr", "1e-4",
                      "--max-update", "30", "--seed", "1", "--finetune-from-model", teacher, "--save-dir", save,
                      "--num-workers", "0", "--no-epoch-checkpoints", "--disable-validation", "--log-interval", "10",
                      "--log-format", "simple", env=clean_env())
    assert re.search(r"train_inner .* greedy_cider=[\d.]+, reward=[\d.]+, baseline=[\d.]+", run.stdout + run.stderr)
    before = greedy_cider_of_training_images(data, teacher, 40)
    after = greedy_cider_of_training_images(data, f"{save}/checkpoint_last.pt", 40)
    print(f"SCST ({baseline} baseline), greedy CIDEr-D of the 40 training images: {before:.3f} -> {after:.3f}")
    assert after > before + 0.2
