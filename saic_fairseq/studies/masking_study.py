"""The paper's preliminary masking study (Sec. 3, Fig. 2 and Table 1): the AIC teacher's
beam-5 captions, masked by Head, Tail, Random or Group masking at rates 0.1 ... 0.9, filled
by a model's Filler in one parallel pass (or I mask-predict iterations), scored with BLEU-4
and CIDEr-D (``saic-masking-study`` prints and plots it)."""
from argparse import Namespace

import numpy as np
import torch
from fairseq.data import data_utils
from tqdm import tqdm

from saic_fairseq.caption_text import caption_text
from saic_fairseq.captioning import caption_samples
from saic_fairseq.generators.mask_predict_generator import best_candidates
from saic_fairseq.studies.caption_masking import METHODS, mask_positions
from saic_fairseq.studies.paper_numbers import TABLE1

RATES = [round(0.1 * i, 1) for i in range(1, 10)]


def beam_captions(task, model, split, count, beam, batch_size):
    """{image id: the teacher's top ``beam`` captions, (N,) word tokens without </s>}."""
    from saic_fairseq.generators import build_caption_generator

    generator = build_caption_generator(task, [model], Namespace(beam=beam), "aic")
    captions = {}
    batches = tqdm(task.dataset(split).batches(count, batch_size), desc=f"teacher beam {beam}",
                   total=-(-count // batch_size))
    for image_ids, hypos in caption_samples(generator, model, batches):
        for image_id, sentence in zip(image_ids, hypos):
            captions[image_id] = [h["tokens"][:-1].cpu() for h in sentence]
    return captions


@torch.no_grad()
def encode_images(task, model, split, count, batch_size):
    """[(image ids, encoder output)] of the first ``count`` images, encoded once for every fill."""
    return [(sample["image_id"].tolist(), model.encoder.forward_torchscript(sample["net_input"]))
            for sample in task.dataset(split).batches(count, batch_size)]


@torch.no_grad()
def fill(task, model, encoded, captions, choose_mask, beam=1, iterations=1):
    """Mask each image's top ``beam`` captions by ``choose_mask(length) -> (N,) bool``, fill them
    with the model's Filler (``iterations`` mask-predict steps); {image id: best filled caption}.
    ``encoded`` is :func:`encode_images`'s output for the images."""
    from saic_fairseq.generators import build_caption_generator

    d = task.target_dictionary
    filler = build_caption_generator(task, [model], Namespace(beam=1), "ir-naic", iterations=iterations)
    mask = filler.layout.mask
    filled = {}
    for image_ids, encoder_out in encoded:
        rows, inputs, maskable = [], [], []
        for row, image_id in enumerate(image_ids):
            for caption in captions[image_id][:beam]:
                hidden = torch.from_numpy(choose_mask(caption.numel()))
                rows.append(row)
                inputs.append(caption.masked_fill(hidden, mask))
                maskable.append(hidden)
        tokens = data_utils.collate_tokens(inputs, d.pad())
        maskable = data_utils.collate_tokens([m.long() for m in maskable], 0).bool()
        rows = torch.tensor(rows)
        tokens, scores = filler.mask_predict(model.encoder.reorder_encoder_out(encoder_out, rows), tokens, maskable,
                                             iterations)
        mean = scores.sum(-1) / maskable.sum(-1).clamp(min=1)
        for image_id, best in zip(image_ids, best_candidates(mean, rows, len(image_ids)).tolist()):
            filled[image_id] = caption_text(d, tokens[best])
    return filled


def run_study(teacher_task, teacher, task, model, split, count, batch_size, seeds, references, rates=RATES,
              progress=True):
    """{"fig2": rows per method, "table1": rows per (M, I), "teacher": scores of the unmasked captions}."""
    from saic_fairseq.evaluation.coco_metrics import coco_scores

    def score(captions):
        totals, _, _ = coco_scores(references, {str(k): v for k, v in captions.items()}, spice=False,
                                   only=["BLEU-4", "CIDEr"])
        return {"BLEU-4": 100 * totals["BLEU-4"], "CIDEr": 100 * totals["CIDEr"]}

    d = teacher_task.target_dictionary
    beams = beam_captions(teacher_task, teacher, split, count, 5, batch_size)
    unmasked = score({i: caption_text(d, c[0]) for i, c in beams.items()})
    encoded = encode_images(task, model, split, count, batch_size)
    fig2 = []
    jobs = [(method, rate) for method in METHODS for rate in rates]
    for method, rate in tqdm(jobs, desc="masking methods x rates", disable=not progress):
        runs = []
        for seed in range(seeds if method == "random" else 1):
            rng = np.random.default_rng(seed)
            runs.append(score(fill(task, model, encoded, beams, lambda n: mask_positions(method, n, rate, rng))))
        fig2.append({"method": method, "rate": rate, "runs": len(runs),
                     **{m: float(np.mean([r[m] for r in runs])) for m in ("BLEU-4", "CIDEr")}})
    table1 = []
    for (beam, iterations), (paper_bleu, paper_cider) in TABLE1.items():
        ours = score(fill(task, model, encoded, beams, lambda n: mask_positions("group", n, 0.7), beam=beam,
                          iterations=iterations))
        table1.append({"M": beam, "I": iterations, **ours, "paper BLEU-4": paper_bleu, "paper CIDEr": paper_cider})
    return {"teacher": unmasked, "fig2": fig2, "table1": table1}
