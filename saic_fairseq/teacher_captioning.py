"""Teacher captions for distillation: the AIC teacher decodes the training images that the
journal does not hold yet, batch by batch, appending each batch to the journal
(``saic_fairseq.data.teacher_captions`` reads and binarizes it)."""
import argparse
import os

import numpy as np
from tqdm import tqdm

from saic_fairseq.caption_text import caption_text
from saic_fairseq.captioning import caption_samples
from saic_fairseq.data.teacher_captions import drop_torn_tail, read_journal
from saic_fairseq.generators import build_caption_generator


def caption_remaining(task, model, split, journal_path, beam=5, batch_size=50, device="cpu", stop_after=None):
    """Caption the images of ``split`` missing from the journal; append each batch to it.

    ``stop_after`` (batches) exists for tests of the resume path.
    """
    dataset = task.dataset(split)
    drop_torn_tail(journal_path)
    done = read_journal(journal_path)
    todo = [i for i in np.argsort(dataset.sizes, kind="mergesort") if int(dataset.image_ids[i]) not in done]
    generator = build_caption_generator(task, [model], argparse.Namespace(beam=beam), decoding="aic")
    with open(journal_path, "a", encoding="utf-8") as journal:
        for number, start in enumerate(tqdm(range(0, len(todo), batch_size), desc=f"teacher captions ({split})")):
            if stop_after is not None and number >= stop_after:
                return False
            batch = dataset.collater([dataset[int(i)] for i in todo[start : start + batch_size]])
            (image_ids, hypos), = caption_samples(generator, model, [batch], device)
            strings = [caption_text(task.target_dictionary, h[0]["tokens"]) for h in hypos]
            lines = [f"{image_id}\t{text}\n" for image_id, text in zip(image_ids, strings)]
            journal.writelines(lines)
            journal.flush()
            os.fsync(journal.fileno())
    return True
