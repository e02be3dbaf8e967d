"""Caption batches with a generator: the loop shared by the hub, the teacher captions, the
masking study, the gap diagnosis and the benchmark's untimed quality images (its timed loop
times the same call on its own)."""
import torch
from fairseq import utils


@torch.no_grad()
def caption_samples(generator, model, samples, device=None):
    """For each fairseq sample (moved to ``device`` when given): (image ids, its hypotheses,
    best first, one list per image)."""
    for sample in samples:
        if device is not None:
            sample = utils.apply_to_sample(lambda t: t.to(device), sample)
        yield sample["image_id"].tolist(), generator.generate([model], sample)
