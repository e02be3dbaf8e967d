"""Distillation-target files: the journal of finished teacher captions and the binarized
per-caption-line output (the decoding itself is ``saic_fairseq.teacher_captioning``).

Resumable: every finished batch is appended to ``{prefix}.journal`` (image id <TAB> caption,
flushed to disk); a rerun reads it and captions only the remaining images. The outputs
(``{prefix}.txt/.ids/.bin/.idx``) appear only when everything is done.
"""
import os

from fairseq.data import indexed_dataset

from saic_fairseq.atomic_write import atomic_open, atomic_path


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
