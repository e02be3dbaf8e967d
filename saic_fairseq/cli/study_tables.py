"""saic-study-tables: the paper's Tables 5, 6 and 7 (and the SCST teacher) from trained runs.

    saic-study-tables --runs runs/studies --out runs/studies/tables

Reads RUNS/<name>/benchmark.json (saic-benchmark with the modes "AIC b5" and "SAIC 1/1", which
examples/studies/run.sh writes once RUNS/<name>/DONE marks a finished training run) and writes
OUT.md, OUT.json and OUT.png (CIDEr-D and speed-up against the group size), the paper's
numbers beside ours. A run that is missing or not finished is listed as such, never scored.
"""
import argparse
import json
import os
import sys

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.cli import format_table, setup_logging
from saic_fairseq.cli.png_figure import pyplot, save_png
from saic_fairseq.studies.paper_numbers import TABLE5, TABLE6, TABLE7

METRICS = ["BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]
LABELS = {
    "raw": "Raw", "sequence-level": "Seq. Dist.", "saic": "SAIC (Hybr. Dist., k=4)", "k2": "k=2", "k3": "k=3",
    "no-finetune": "-FT", "no-rpr": "-RPR", "no-curriculum": "-CL",
}


def read_run(runs, name):
    """The SAIC 1/1 row of a finished run (+ its AIC b5 latency), or None."""
    path = os.path.join(runs, name, "benchmark.json")
    if not (os.path.exists(os.path.join(runs, name, "DONE")) and os.path.exists(path)):
        return None
    with open(path, encoding="utf-8") as handle:
        rows = {r["mode"]: r for r in json.load(handle)["rows"]}
    saic = rows["SAIC 1/1"]
    return {**{m: saic[m] for m in METRICS}, "ms": saic["ms mean"], "x vs AIC b5": saic.get("x vs AIC b5"),
            "calls": saic["calls"]}


def table(runs, names, paper, metrics, extra=()):
    rows = []
    for name in names:
        ours = read_run(runs, name) or {}
        row = {"run": LABELS[name] + ("" if ours else " (not trained yet)"), **ours}
        row.update({f"paper {m}": paper.get(name, {}).get(m) for m in metrics})
        rows.append(row)
    return rows, ["run", *metrics, *extra, *[f"paper {m}" for m in metrics]]


def scst_rows(runs):
    rows = []
    for name, label in (("teacher", "AIC teacher, cross entropy"), ("scst", "AIC teacher + SCST")):
        path = os.path.join(runs, "scst", f"{name}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                for r in json.load(handle)["rows"]:
                    rows.append({"model": label, "decoding": r["mode"], **{m: r[m] for m in METRICS}})
    return rows


def example_rows(runs):
    """Fig. 4 from RUNS/examples.json (saic-benchmark --examples): one row per reference or caption."""
    path = os.path.join(runs, "examples.json")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        examples = json.load(handle).get("examples", [])
    rows = []
    for example in examples:
        rows += [{"image": example["image id"], "source": "GT", "caption": ref} for ref in example["references"][:2]]
        rows += [{"image": example["image id"], "source": mode, "caption": caption}
                 for mode, caption in example.items() if mode not in ("image id", "references")]
    return rows


def build(runs):
    t5, c5 = table(runs, ["raw", "sequence-level", "saic"], TABLE5, METRICS)
    t6, c6 = table(runs, ["k2", "k3", "saic"], TABLE6, METRICS, extra=("ms", "x vs AIC b5", "calls"))
    t7, c7 = table(runs, ["saic", "no-finetune", "no-rpr", "no-curriculum", "raw"], TABLE7, ["BLEU-4", "CIDEr"])
    return {"table5": (t5, c5), "table6": (t6, c6), "table7": (t7, c7),
            "scst": (scst_rows(runs), ["model", "decoding", *METRICS]),
            "fig4": (example_rows(runs), ["image", "source", "caption"])}


TITLES = {
    "table5": "Table 5: distillation source (SAIC k=4, M_out = M_fill = 1)",
    "table6": "Table 6: group size k (SAIC 1/1; latency per image at batch 1, speed-up vs AIC beam 5 of the "
              "same model, measured in the same run)",
    "table7": "Table 7: ablations (each removes one technique from the full SAIC; -Hybr. Dist. = Raw)",
    "scst": "SCST: the AIC teacher before and after self-critical fine-tuning (paper Sec. 3.2)",
    "fig4": "Fig. 4: example captions of test images (two references, then each decoding of the SAIC model)",
}


def plot(tables, path):
    plt = pyplot()
    rows = [r for r in tables["table6"][0] if "CIDEr" in r]
    if not rows:
        return
    ks = [{"k=2": 2, "k=3": 3}.get(r["run"], 4) for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.5))
    left.plot(ks, [r["CIDEr"] for r in rows], marker="o", label="ours")
    left.plot(ks, [r["paper CIDEr"] for r in rows], marker="s", label="paper")
    left.set_xlabel("group size k")
    left.set_ylabel("CIDEr-D")
    left.legend()
    right.plot(ks, [r["x vs AIC b5"] for r in rows], marker="o")
    right.set_xlabel("group size k")
    right.set_ylabel("speed-up vs AIC beam 5")
    for ax in (left, right):
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
    save_png(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="saic-study-tables", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", required=True, help="directory of the study runs")
    parser.add_argument("--out", required=True, help="prefix of OUT.md, OUT.json, OUT.png")
    args = parser.parse_args(argv)
    setup_logging()
    tables = build(args.runs)
    text = "\n\n".join(f"### {TITLES[key]}\n\n"
                       + (format_table(rows, columns, markdown=True) if rows else "(not run yet)")
                       for key, (rows, columns) in tables.items()) + "\n"
    print(text)
    with atomic_open(args.out + ".md") as handle:
        handle.write(text)
    with atomic_open(args.out + ".json") as handle:
        json.dump({key: rows for key, (rows, _) in tables.items()}, handle, indent=1)
    plot(tables, args.out + ".png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
