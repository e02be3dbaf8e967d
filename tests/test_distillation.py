"""Teacher captions: aligned to the caption lines by image id, binarized with the task's
dictionary, resumable after a kill, and used by hybrid distillation in fairseq-train."""
from conftest import clean_env, copy_data, fairseq_cli, train_args
from saic_fairseq.data.teacher_captions import read_journal
from saic_fairseq.model_loading import load_model_for_split
from saic_fairseq.teacher_captioning import caption_remaining


def test_targets_are_aligned_per_line_and_binarized(distilled):
    from saic_fairseq.tasks.saic_captioning import SAICCaptioningTask

    ids = open(f"{distilled}/train.ids").read().split()
    assert open(f"{distilled}/train.distill.ids").read().split() == ids
    texts = open(f"{distilled}/train.distill.txt").read().splitlines()
    assert len(texts) == len(ids)
    by_image = {}
    for image_id, text in zip(ids, texts):
        assert by_image.setdefault(image_id, text) == text  # one teacher caption per image
    from fairseq.data import data_utils

    dictionary = SAICCaptioningTask.load_dictionary(f"{distilled}/dict.txt")
    binarized = data_utils.load_indexed_dataset(f"{distilled}/train.distill", dictionary)
    assert len(binarized) == len(ids)
    for row in (0, 17, len(ids) - 1):
        assert dictionary.string(binarized[row][:-1]) == texts[row].replace(" <unk>", " <<unk>>") or \
            dictionary.string(binarized[row][:-1]) == texts[row]


def test_resume_after_a_kill_gives_the_same_targets(distilled, proxy_data, checkpoints, tmp_path):
    data = copy_data(proxy_data, tmp_path / "data")
    journal = f"{data}/train.distill.journal"
    task, model = load_model_for_split(checkpoints[0], data, f"{data}/features.h5", "train")
    assert caption_remaining(task, model, "train", journal, batch_size=64, stop_after=2) is False
    first = read_journal(journal)
    assert len(first) == 128
    with open(journal, "a") as handle:
        handle.write("123\ta torn line without its newl")  # the kill hit mid-write
    assert read_journal(journal) == first
    import os

    assert not os.path.exists(f"{data}/train.distill.bin")  # nothing final before the end
    fairseq_cli("python", "-m", "preprocess.distill_targets", data, "--features", f"{data}/features.h5",
                "--path", checkpoints[0], "--batch-size", "64")
    for ext in ("txt", "ids"):
        assert open(f"{data}/train.distill.{ext}").read() == open(f"{distilled}/train.distill.{ext}").read()
    assert not os.path.exists(journal)


def test_hybrid_distillation_trains(distilled, checkpoints, tmp_path):
    run = fairseq_cli("fairseq-train", *train_args(distilled, str(tmp_path / "hybrid"), "saic_loss", 10,
                                                   "--p-hybr", "0.5", "--finetune-from-model", checkpoints[0]),
                      env=clean_env())
    assert "with teacher captions" in run.stdout + run.stderr
    assert "filler_loss=" in run.stdout + run.stderr
