"""Read generated captions (fairseq-generate output, plain ``image_id<TAB>caption`` lines, a
COCO result file or saic-caption's jsonl) and score such a file against references."""
import os

import numpy as np

from saic_fairseq.caption_formats import read_caption_results
from saic_fairseq.data.coco_captions import first_line_of_each_image
from saic_fairseq.errors import SAICInputError


def read_captions(path, image_ids=None):
    """{image id: caption} from ``path``.

    A COCO result file (``[{"image_id", "caption"}]``) or saic-caption's jsonl is read as such
    (``caption_formats.read_caption_results``). fairseq-generate output
    (``H-<sample id>\\t<score>\\t<caption>`` lines) needs the split's ``image_ids`` (its
    ``.ids`` file): sample ids are caption lines, or with ``--unique-images`` the images' first
    lines. Plain files hold ``image_id<TAB>caption``.
    Where an image has several captions, the first wins.
    """
    results = read_caption_results(path)
    if results is not None:
        return results
    hypotheses, plain = {}, {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if line.startswith("H-"):
                parts = line.split("\t")
                if len(parts) < 2:
                    raise SAICInputError(path, f"line {number}", "H- line without tab-separated fields")
                hypotheses[int(parts[0][2:])] = parts[2] if len(parts) > 2 else ""
            elif "\t" in line and line[:2] not in ("S-", "T-", "D-", "P-", "W-"):
                image_id, _, caption = line.partition("\t")
                try:
                    plain.setdefault(int(image_id), caption.strip())
                except ValueError:
                    raise SAICInputError(path, f"line {number}", f"not 'image_id<TAB>caption': {line[:60]!r}")
    if not hypotheses:
        if not plain:
            raise SAICInputError(path, None, "no captions (neither H- lines nor image_id<TAB>caption lines)")
        return plain
    if image_ids is None:
        raise SAICInputError(path, None, "fairseq-generate output needs the split's .ids file (--ids)")
    image_ids = np.asarray(image_ids)
    unique_lines = first_line_of_each_image(image_ids)
    if len(hypotheses) == len(unique_lines) and max(hypotheses) < len(unique_lines) < len(image_ids):
        lines = unique_lines  # generated with --unique-images
    elif max(hypotheses) < len(image_ids):
        lines = np.arange(len(image_ids))
    else:
        raise SAICInputError(path, None, f"sample id {max(hypotheses)} is past the {len(image_ids)} caption lines")
    captions = {}
    for sample_id in sorted(hypotheses):
        captions.setdefault(int(image_ids[lines[sample_id]]), hypotheses[sample_id])
    return captions


def score_caption_file(refs_path, captions_path, ids_path=None, spice=True):
    """Scores of a captions file against a refs.json or COCO annotation file.

    Returns:
        (corpus scores {metric: fraction}, per image {image id: {"caption", metric: fraction}},
        note on SPICE or None).
    """
    from saic_fairseq.data.coco_captions import read_image_ids
    from saic_fairseq.evaluation.coco_metrics import coco_scores
    from saic_fairseq.evaluation.reference_captions import read_references

    references = read_references(refs_path)
    if ids_path is None and refs_path.endswith(".refs.json"):
        candidate = refs_path[: -len(".refs.json")] + ".ids"
        ids_path = candidate if os.path.exists(candidate) else None
    captions = read_captions(captions_path, read_image_ids(ids_path) if ids_path else None)
    captions = {str(k): v for k, v in captions.items()}
    for image_id in captions:
        if image_id not in references:
            raise SAICInputError(refs_path, f"image id {image_id}", f"no references for this image of {captions_path}")
    scores, per_metric, note = coco_scores(references, captions, spice=spice)
    ids = sorted(captions, key=str)  # coco_scores' order
    per_image = {i: {"caption": captions[i], **{m: values[n] for m, values in per_metric.items()}}
                 for n, i in enumerate(ids)}
    return scores, per_image, note
