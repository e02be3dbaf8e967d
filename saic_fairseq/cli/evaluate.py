"""saic-evaluate: COCO metrics of generated captions against all references of each image.

    saic-evaluate --refs data/proxy/test.refs.json --captions generate-test.txt --json scores.json
    saic-evaluate --refs captions_val2014.json --captions results.json

REFS is a {split}.refs.json file or a COCO caption annotation file (captions_val2014.json).
CAPTIONS is a COCO result file ([{"image_id", "caption"}], what saic-caption --format coco
writes), saic-caption's jsonl, fairseq-generate output (the split's .ids file is found beside
--refs, or give --ids) or plain image_id<TAB>caption lines. --json also gets every image's
caption and scores.
"""
import argparse
import json
import sys

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.cli import command, format_table, setup_logging
from saic_fairseq.evaluation.coco_metrics import METRICS
from saic_fairseq.evaluation.generate_output import score_caption_file


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="saic-evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refs", required=True, help="{split}.refs.json or a COCO caption annotation file")
    parser.add_argument("--captions", required=True, help="COCO result file, saic-caption jsonl, fairseq-generate "
                        "output or image_id<TAB>caption lines")
    parser.add_argument("--ids", help="{split}.ids, for fairseq-generate output (default: beside --refs)")
    parser.add_argument("--json", help="also write the scores, and every image's caption and scores, here")
    parser.add_argument("--no-spice", action="store_true", help="do not try SPICE")
    parser.add_argument("--verbose", action="store_true", help="log what is loaded")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    scores, per_image, note = score_caption_file(args.refs, args.captions, args.ids, spice=not args.no_spice)
    shown = [m for m in METRICS if m in scores]
    row = {"captions": args.captions, "images": len(per_image), **{m: 100 * scores[m] for m in shown}}
    print(format_table([row], ["captions", "images"] + shown))
    if note:
        print(note)
    if args.json:
        with atomic_open(args.json) as handle:
            json.dump({"images": len(per_image), "scores": scores, "note": note, "per_image": per_image}, handle,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
