"""The task's datasets through fairseq's own get_batch_iterator: padded batches, lazy
features, every caption kept, bad input named."""
import numpy as np
import pytest
import torch

from conftest import setup_task_and_model
from saic_fairseq.errors import SAICInputError
from saic_fairseq.features.feature_store import FeatureStore


@pytest.fixture(scope="module")
def task(proxy_data):
    return setup_task_and_model(proxy_data)[0]


def batches(task, split, **kwargs):
    task.load_dataset(split)
    itr = task.get_batch_iterator(task.dataset(split), max_positions=task.max_positions(), **kwargs)
    return list(itr.next_epoch_itr(shuffle=False))


def test_batches_are_padded_correctly(task, proxy_data):
    store = FeatureStore(f"{proxy_data}/features.h5")
    seen = 0
    for sample in batches(task, "valid", max_tokens=300):
        net = sample["net_input"]
        feats, mask, prev = net["features"], net["padding_mask"], net["prev_output_tokens"]
        assert feats.dim() == 3 and feats.shape[:2] == mask.shape and feats.size(2) == store.dim
        assert sample["ntokens"] <= 300 or len(sample["id"]) == 1
        for row, image_id in enumerate(sample["image_id"].tolist()):
            regions = store.num_regions(image_id)
            assert mask[row].tolist() == [False] * regions + [True] * (mask.size(1) - regions)
            assert torch.equal(feats[row, :regions], torch.from_numpy(store.features(image_id)))
            assert feats[row, regions:].abs().sum() == 0
            target = sample["target"][row]
            length = int(target.ne(task.target_dictionary.pad()).sum())
            assert target[length - 1] == task.target_dictionary.eos()
            assert prev[row, 0] == task.bog_idx and torch.equal(prev[row, 1:length], target[: length - 1])
        seen += len(sample["id"])
    assert seen == len(task.dataset("valid"))


@pytest.mark.parametrize("batch_size, multiple", [(16, 8), (7, 1), (5, 4)])
def test_every_caption_is_batched_once(task, batch_size, multiple):
    ids = np.concatenate([s["id"].numpy() for s in batches(
        task, "test", max_sentences=batch_size, required_batch_size_multiple=multiple)])
    assert sorted(ids.tolist()) == list(range(len(task.dataset("test"))))


def test_unique_images_gives_one_sample_per_image(proxy_data):
    task = setup_task_and_model(proxy_data, extra=["--unique-images"])[0]
    task.load_dataset("test")
    ids = task.dataset("test").image_ids
    assert len(ids) == len(set(ids.tolist())) == 30


def test_dictionary_has_mask_and_bog(task):
    d = task.target_dictionary
    assert d.symbols[task.mask_idx] == "<mask>" and d.symbols[task.bog_idx] == "<bog>"
    assert task.bog_idx == len(d) - 1


def test_caption_whose_image_has_no_features(proxy_data, tmp_path):
    import shutil

    for name in ("dict.txt", "test.bin", "test.idx", "test.ids"):
        shutil.copy(f"{proxy_data}/{name}", tmp_path / name)
    lines = (tmp_path / "test.ids").read_text().splitlines()
    lines[6] = "999999999"
    (tmp_path / "test.ids").write_text("\n".join(lines) + "\n")
    task = setup_task_and_model(proxy_data, extra=["--features", f"{proxy_data}/features.h5"])[0]
    task.cfg.data = str(tmp_path)
    with pytest.raises(SAICInputError, match=r"test.ids, line 7: image id 999999999 has no features"):
        task.load_dataset("test")



@pytest.mark.parametrize("criterion", [("label_smoothed_cross_entropy", "--label-smoothing", "0.1"),
                                       ("saic_loss", "--p-hybr", "1")])
def test_batches_by_image_give_the_losses_and_gradients_of_batches_by_caption(proxy_data, criterion):
    task, model, crit, _ = setup_task_and_model(proxy_data, criterion=criterion,
                                                extra=["--batch-by-image", "--dropout", "0"])
    task.load_dataset("train")
    dataset = task.dataset("train")
    assert dataset.by_image
    order = dataset.ordered_indices()
    assert sorted(order.tolist()) == list(range(len(dataset)))
    runs = 1 + int(np.count_nonzero(np.diff(dataset.image_ids[order])))
    assert runs == len(np.unique(dataset.image_ids))  # every image's captions side by side
    items = [dataset[i] for i in order[:40]]
    grouped = dataset.collater(items)
    dataset.by_image = False
    plain = dataset.collater(items)
    images = len({item["image_id"] for item in items})
    assert grouped["net_input"]["features"].size(0) == images < 40 == plain["net_input"]["features"].size(0)
    rows = grouped["net_input"]["encoder_rows"]
    assert torch.equal(grouped["net_input"]["features"][rows], plain["net_input"]["features"])
    model.train()
    model.set_num_updates(50)  # saic_loss: a mix of AIC + NAIC and Outliner + Filler sentences
    results = []
    for sample in (grouped, plain):
        model.zero_grad()
        loss, sample_size, _ = crit(model, sample)
        loss.backward()
        results.append((loss.detach(), sample_size, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (loss_g, size_g, grads_g), (loss_p, size_p, grads_p) = results
    assert size_g == size_p and torch.allclose(loss_g, loss_p, rtol=1e-5)
    scale = max(float(b.abs().max()) for b in grads_p)  # (k's bias has a zero gradient, up to rounding)
    worst = max(float((a - b).abs().max()) for a, b in zip(grads_g, grads_p)) / scale
    assert len(grads_g) == len(grads_p) and worst < 1e-5, worst
