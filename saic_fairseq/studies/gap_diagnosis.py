"""Where SAIC's gap to AIC comes from: the same Filler, given outlines of known quality.

For the same test images it scores (CIDEr-D and the rest against all references):

* the AIC teacher's beam-5 captions (the reference point);
* SAIC 1/1: the model's own Outliner, then its Filler;
* the Filler applied to the outline (group-first words) of the teacher's beam-5 caption;
* the Filler applied to the outline of each image's first reference caption.

The distance from "Filler on the teacher's outline" to SAIC 1/1 is the Outliner's share of
the gap; from it to the teacher, the Filler's. Per row it also counts captions with the same
word twice in a row (a parallel decoder's typical slip) and the mean caption length.
"""
import argparse

import torch

from saic_fairseq.caption_text import caption_text
from saic_fairseq.captioning import caption_samples
from saic_fairseq.generators import build_caption_generator

COLUMNS = ["captions", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "repeats %", "words"]


@torch.no_grad()
def fill_outlines(generator, model, sample, captions):
    """The SAIC generator's Filler over the outlines of ``captions`` (1-D token tensors ending
    in ``</s>``), one per image of ``sample``: filled caption texts."""
    layout = generator.layout
    outlines = [layout.outline(c) for c in captions]
    lengths = torch.tensor([o.numel() for o in outlines])
    padded = torch.nn.utils.rnn.pad_sequence(outlines, batch_first=True, padding_value=layout.pad)
    encoder_out = model.encoder.forward_torchscript(sample["net_input"])
    zeros = torch.zeros(padded.shape)
    tokens, _, filled_lengths, _, _ = generator.fill(encoder_out, torch.arange(len(outlines)), padded, zeros, lengths,
                                                     torch.zeros(len(outlines)))
    return [caption_text(generator.tgt_dict, t[:n]) for t, n in zip(tokens, filled_lengths.tolist())]


def diagnose(task, saic_model, teacher, split, images, batch_size=50):
    """{row name: {image id: caption}} for the four rows of the module docstring."""
    import os

    from saic_fairseq.evaluation.reference_captions import read_references

    d = task.target_dictionary
    references = read_references(os.path.join(task.cfg.data, f"{split}.refs.json"))
    aic = build_caption_generator(task, [teacher], argparse.Namespace(beam=5), decoding="aic")
    saic = build_caption_generator(task, [saic_model], argparse.Namespace(beam=1), decoding="saic", outline_beam=1,
                                   fill_beam=1, fill_iterations=0)
    rows = {name: {} for name in ("AIC b5 (teacher)", "SAIC 1/1", "Filler on teacher b5 outline",
                                  "Filler on reference outline")}
    dataset = task.dataset(split)
    with torch.no_grad():
        for sample in dataset.batches(min(images, len(dataset)), batch_size):
            ids = [str(i) for i in sample["image_id"].tolist()]
            (_, teacher_hypos), = caption_samples(aic, teacher, [sample])
            (_, own_hypos), = caption_samples(saic, saic_model, [sample])
            teacher_tokens = [h[0]["tokens"] for h in teacher_hypos]
            own = [caption_text(d, h[0]["tokens"]) for h in own_hypos]
            reference_tokens = [d.encode_line(references[i][0], add_if_not_exist=False, append_eos=True).long()
                                for i in ids]
            for name, texts in (("AIC b5 (teacher)", [caption_text(d, t) for t in teacher_tokens]),
                                ("SAIC 1/1", own),
                                ("Filler on teacher b5 outline", fill_outlines(saic, saic_model, sample,
                                                                               teacher_tokens)),
                                ("Filler on reference outline", fill_outlines(saic, saic_model, sample,
                                                                              reference_tokens))):
                rows[name].update(zip(ids, texts))
    return rows, references


def score_rows(rows, references):
    """Table rows (dicts of COLUMNS) from {name: {image id: caption}}."""
    from saic_fairseq.evaluation.coco_metrics import coco_scores_of_runs

    scored = coco_scores_of_runs(references, rows, spice=False)
    table = []
    for name, captions in rows.items():
        scores = scored[name][0]
        words = [c.split() for c in captions.values()]
        repeats = sum(any(a == b for a, b in zip(w, w[1:])) for w in words)
        table.append({"captions": name, **{m: 100 * scores[m] for m in COLUMNS[1:5]},
                      "repeats %": 100 * repeats / max(len(words), 1),
                      "words": sum(map(len, words)) / max(len(words), 1)})
    return table

