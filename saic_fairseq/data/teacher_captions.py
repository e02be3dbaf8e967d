"""Distillation targets: the AIC teacher's caption of every training image, written per
caption line (aligned by image id) and binarized with the task's dictionary.

Resumable: every finished batch is appended to ``{prefix}.journal`` (image id <TAB> caption,
flushed to disk); a rerun reads it and captions only the remaining images. The outputs
(``{prefix}.txt/.ids/.bin/.idx``) appear only when everything is done.
"""
import argparse
import os

import numpy as np
from fairseq.data import indexed_dataset
from tqdm import tqdm

from saic_fairseq.atomic_write import atomic_open, atomic_path
from saic_fairseq.generators import build_caption_generator


def read_journal(path):
    """{image id: caption} of the finished batches (a torn last line is ignored)."""
    done = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.endswith("\n") and "\t" in line:
                    image_id, caption = line[:-1].split("\t", 1)
                    done[int(image_id)] = caption
    return done


def drop_torn_tail(path):
    """Cut a journal back to its last complete line (a kill may have hit mid-write)."""
    if not os.path.exists(path):
        return
    with open(path, "rb") as handle:
        data = handle.read()
    os.truncate(path, data.rfind(b"\n") + 1)


def caption_remaining(task, model, split, journal_path, beam=5, batch_size=50, device="cpu", stop_after=None):
    """Caption the images of ``split`` missing from the journal; append each batch to it.

    ``stop_after`` (batches) exists for tests of the resume path.
    """
    dataset = task.dataset(split)
    drop_torn_tail(journal_path)
    done = read_journal(journal_path)
    todo = [i for i in np.argsort(dataset.sizes, kind="mergesort") if int(dataset.image_ids[i]) not in done]
    generator = build_caption_generator(task, [model], argparse.Namespace(beam=beam), decoding="aic")
    eos = task.target_dictionary.eos()
    with open(journal_path, "a", encoding="utf-8") as journal:
        for number, start in enumerate(tqdm(range(0, len(todo), batch_size), desc=f"teacher captions ({split})")):
            if stop_after is not None and number >= stop_after:
                return False
            sample = dataset.collater([dataset[int(i)] for i in todo[start : start + batch_size]])
            sample = _to_device(sample, device)
            hypos = task.inference_step(generator, [model], sample)
            strings = [task.target_dictionary.string(h[0]["tokens"], extra_symbols_to_ignore={eos}) for h in hypos]
            lines = [f"{int(image_id)}\t{text}\n" for image_id, text in zip(sample["image_id"], strings)]
            journal.writelines(lines)
            journal.flush()
            os.fsync(journal.fileno())
    return True


def _to_device(sample, device):
    from fairseq import utils

    return utils.apply_to_sample(lambda t: t.to(device), sample) if device != "cpu" else sample


def write_distillation(task, data, split, journal_path):
    """{split}.distill.txt/.ids/.bin/.idx: the teacher caption of each caption line's image."""
    from saic_fairseq.data.coco_captions import read_image_ids

    captions = read_journal(journal_path)
    line_ids = read_image_ids(os.path.join(data, f"{split}.ids"))
    prefix = os.path.join(data, f"{split}.distill")
    dictionary = task.target_dictionary
    with atomic_open(prefix + ".txt") as txt, atomic_open(prefix + ".ids") as ids, \
            atomic_path(prefix + ".bin") as bin_path, atomic_path(prefix + ".idx") as idx_path:
        builder = indexed_dataset.make_builder(bin_path, impl="mmap", vocab_size=len(dictionary))
        for image_id in line_ids.tolist():
            caption = captions[image_id]
            txt.write(caption + "\n")
            ids.write(f"{image_id}\n")
            builder.add_item(dictionary.encode_line(caption, add_if_not_exist=False, append_eos=True).long())
        builder.finalize(idx_path)
    os.unlink(journal_path)
    return len(line_ids)
