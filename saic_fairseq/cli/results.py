"""saic-results: one table from a batch-1 and a batch-50 ``saic-benchmark --json`` run, and
whether SAIC meets its targets (quality against AIC beam 5 and IR-NAIC; speed-ups; overhead).

    saic-results --latency runs/proxy/benchmark.json --throughput runs/proxy/benchmark-batch50.json \\
        --out runs/proxy/results.md

Prints (and with ``--out`` writes) a Markdown table per mode (quality, ms at batch 1,
speed-ups with their spread, decoder calls, overhead, captions/s at batch 50 and their
ratios) and a table of targets: what is promised, what was measured, met or not.
"""
import argparse
import json
import sys

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.cli import command, format_table
from saic_fairseq.errors import SAICInputError
from saic_fairseq.studies.results_table import (
    COLUMNS,
    PUBLISHED_FLICKR8K,
    TARGET_SETS,
    baseline_rows,
    quality_only,
    results_rows,
    target_rows,
)


def read_benchmark(path):
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError) as error:
        raise SAICInputError(path, None, f"not a saic-benchmark --json file ({error})") from error
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        raise SAICInputError(path, None, "not a saic-benchmark --json file (no \"rows\" list)")
    return report


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="saic-results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", required=True, help="saic-benchmark --json of the batch-1 run (with quality)")
    parser.add_argument("--throughput", help="saic-benchmark --json of the batch-50 run")
    parser.add_argument("--baseline", help="saic-benchmark --json of the fairly trained IR-NAIC checkpoint "
                        "(quality rows; the IR-NAIC targets compare with them too)")
    parser.add_argument("--targets", default="proxy", choices=sorted(TARGET_SETS),
                        help="which targets: the text proxy's, or Flickr8k's (with its published figures)")
    parser.add_argument("--out", help="write the Markdown here")
    args = parser.parse_args(argv)
    latency = read_benchmark(args.latency)
    throughput = read_benchmark(args.throughput) if args.throughput else None
    baseline = baseline_rows(read_benchmark(args.baseline)) if args.baseline else []
    rows = results_rows(latency, throughput) + quality_only(baseline)
    if args.targets == "flickr8k":
        rows += PUBLISHED_FLICKR8K
    text = "\n\n".join([
        latency.get("title", args.latency) + (f"\n{throughput.get('title', '')}" if throughput else ""),
        format_table(rows, ["mode", *COLUMNS], markdown=True),
        format_table(target_rows(latency, throughput, TARGET_SETS[args.targets], baseline),
                       ["target", "measured", "met"], markdown=True),
    ])
    print(text)
    if args.out:
        with atomic_open(args.out) as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
