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
from saic_fairseq.cli import command
from saic_fairseq.cli.text_table import markdown_table
from saic_fairseq.errors import SAICInputError
from saic_fairseq.studies.results_table import COLUMNS, results_rows, target_rows


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
    parser.add_argument("--out", help="write the Markdown here")
    args = parser.parse_args(argv)
    latency = read_benchmark(args.latency)
    throughput = read_benchmark(args.throughput) if args.throughput else None
    text = "\n\n".join([
        latency.get("title", args.latency) + (f"\n{throughput.get('title', '')}" if throughput else ""),
        markdown_table(results_rows(latency, throughput), ["mode", *COLUMNS]),
        markdown_table(target_rows(latency, throughput), ["target", "measured", "met"]),
    ])
    print(text)
    if args.out:
        with atomic_open(args.out) as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
