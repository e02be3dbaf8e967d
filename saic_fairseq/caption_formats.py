"""Caption files: what ``saic-caption`` writes and ``saic-evaluate`` reads back.

Formats (``--format``):

- ``tsv``:   ``name<TAB>caption`` per image; with ``--nbest`` ``name<TAB>score<TAB>caption``, N
  lines per image, best first.
- ``jsonl``: one JSON object per image: ``{"image": name, "image_id": id, "caption": best,
  "score": its score}`` (``image_id`` only where known), plus ``"nbest": [{"caption", "score"}]``
  with ``--nbest``.
- ``coco``:  the COCO caption evaluation server's result file, one JSON list
  ``[{"image_id": int, "caption": str}]`` with the best caption of each image, written when
  the run ends.

Scores are the decoder's length-normalised log-probabilities (higher is better).
"""
import json

from saic_fairseq.data.coco_captions import load_json
from saic_fairseq.errors import SAICInputError

FORMATS = ("tsv", "jsonl", "coco")


class CaptionWriter:
    """Writes the captions of one run to ``handle`` in ``fmt``; tsv and jsonl lines are written
    (and flushed) as they come, the coco list by ``close()``.

    Args:
        handle: text stream (stdout, or a file opened with ``atomic_open``).
        fmt: one of FORMATS.
        nbest: None for the best caption only; N to write every candidate with its score.
    """

    def __init__(self, handle, fmt="tsv", nbest=None):
        if fmt not in FORMATS:
            raise ValueError(f"unknown caption format {fmt!r}; one of {FORMATS}")
        self.handle, self.fmt, self.nbest = handle, fmt, nbest
        self.results = []

    def write(self, name, image_id, candidates):
        """One image. ``candidates``: [(caption, score)], best first; ``image_id``: int or None."""
        caption, score = candidates[0]
        if self.fmt == "coco":
            if image_id is None:
                raise SAICInputError(name, None, "--format coco needs an integer image id: name the file by its "
                                     "COCO id (COCO_val2014_000000391895.jpg) or give --annotations")
            self.results.append({"image_id": int(image_id), "caption": caption})
            return
        if self.fmt == "tsv":
            lines = [f"{name}\t{s:.4f}\t{c}" for c, s in candidates] if self.nbest else [f"{name}\t{caption}"]
            self.handle.write("".join(line + "\n" for line in lines))
        else:
            record = {"image": name, **({"image_id": int(image_id)} if image_id is not None else {}),
                      "caption": caption, "score": round(float(score), 6)}
            if self.nbest:
                record["nbest"] = [{"caption": c, "score": round(float(s), 6)} for c, s in candidates]
            self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()

    def close(self):
        if self.fmt == "coco":
            json.dump(self.results, self.handle, indent=1)
            self.handle.write("\n")
        self.handle.flush()


def read_caption_results(path):
    """{image id: caption} of a COCO result file (a JSON list) or a jsonl file of saic-caption;
    None if ``path`` holds neither (then it is a text format)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        start = handle.read(1024).lstrip()
    if start.startswith("["):
        records, where = load_json(path), lambda n: f"result {n}"
        if not isinstance(records, list):
            raise SAICInputError(path, None, "a COCO result file is a JSON list of {image_id, caption}")
    elif start.startswith("{"):
        records, where = [], lambda n: f"line {n}"
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        raise SAICInputError(path, f"line {number}", f"malformed JSON: {err.msg}")
    else:
        return None
    captions = {}
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict) or "caption" not in record or "image_id" not in record:
            raise SAICInputError(path, where(number), "needs 'image_id' and 'caption'")
        try:
            image_id = int(record["image_id"])
        except (TypeError, ValueError):
            raise SAICInputError(path, where(number), f"image_id {record['image_id']!r} is not an integer")
        captions.setdefault(image_id, str(record["caption"]).strip())
    if not captions:
        raise SAICInputError(path, None, "no captions")
    return captions
