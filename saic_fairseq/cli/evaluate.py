"""saic-evaluate: COCO metrics of generated captions against all references of each image.

    saic-evaluate --refs data/proxy/test.refs.json --captions generate-test.txt [--json scores.json]

CAPTIONS is fairseq-generate output (the split's .ids file is found beside --refs, or give
--ids) or plain ``image_id<TAB>caption`` lines.
"""
import argparse
import json
import sys

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.cli import command, setup_logging
from saic_fairseq.cli.text_table import format_table
from saic_fairseq.evaluation.coco_metrics import METRICS
from saic_fairseq.evaluation.generate_output import score_caption_file


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="saic-evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refs", required=True, help="{split}.refs.json")
    parser.add_argument("--captions", required=True, help="fairseq-generate output or image_id<TAB>caption lines")
    parser.add_argument("--ids", help="{split}.ids (default: beside --refs)")
    parser.add_argument("--json", help="also write the scores here")
    parser.add_argument("--no-spice", action="store_true", help="do not try SPICE")
    args = parser.parse_args(argv)
    setup_logging()
    scores, note, count = score_caption_file(args.refs, args.captions, args.ids, spice=not args.no_spice)
    row = {"captions": args.captions, "images": count, **{m: 100 * scores[m] for m in METRICS if m in scores}}
    print(format_table([row], ["captions", "images"] + [m for m in METRICS if m in scores]))
    if note:
        print(note)
    if args.json:
        with atomic_open(args.json) as handle:
            json.dump({"images": count, "scores": scores, "note": note}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
