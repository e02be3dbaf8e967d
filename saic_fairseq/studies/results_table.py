"""One results table from two ``saic-benchmark --json`` runs of the same checkpoints, and the
targets SAIC is held to (what ``saic-results`` prints at the end of ``make demo``).

* the **latency** run (batch 1): quality columns, ms per caption, speed-ups with their spread,
  decoder calls, overhead;
* the **throughput** run (batch 50, ``--no-quality``): captions/s and its ratios.

A target compares modes of these two runs only (same machine, same run), e.g. "SAIC 1/1
CIDEr >= AIC b5 - 3"; a target whose modes are missing is reported as not measured.
"""
QUALITY = ["BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]
COLUMNS = QUALITY + ["ms, batch 1", "x AIC b5 (spread)", "x AIC b1 (spread)", "calls", "overhead",
                     "captions/s, batch 50", "x AIC b1, batch 50", "x AIC b5, batch 50"]


def by_mode(report):
    """{mode: row} of a parsed ``saic-benchmark --json`` report ({} for None)."""
    return {r["mode"]: r for r in (report or {}).get("rows", [])}


def results_rows(latency, throughput=None):
    """Rows {"mode", *COLUMNS} in the latency run's mode order.

    Args:
        latency, throughput: the parsed ``--json`` of the batch-1 and the batch-50 run.
    """
    fast = by_mode(throughput)
    rows = []
    for r in latency["rows"]:
        t = fast.get(r["mode"], {})
        row = {"mode": r["mode"], **{m: r.get(m) for m in QUALITY}, "ms, batch 1": r["ms mean"],
               "x AIC b5 (spread)": _ratio(r, "AIC b5"), "x AIC b1 (spread)": _ratio(r, "AIC b1"),
               "calls": r["calls"], "overhead": r["overhead"], "captions/s, batch 50": t.get("captions/s"),
               "x AIC b1, batch 50": t.get("x vs AIC b1"), "x AIC b5, batch 50": t.get("x vs AIC b5")}
        rows.append(row)
    return rows


def _ratio(row, reference):
    value = row.get(f"x vs {reference}")
    return None if value is None else f"{value:.2f} ({row[f'spread {reference[-2:]}']})"


def best_ir_naic(rows):
    """The highest CIDEr-D of the IR-NAIC modes among ``rows`` ({mode: row})."""
    return max(r["CIDEr"] for m, r in rows.items() if m.startswith("IR-NAIC"))


#: (what is promised, the measured quantity as a function of b1 = {mode: latency row} and
#: b50 = {mode: throughput row}, ">=" or "<=", the bound)
TARGETS = [
    ("SAIC 1/1 CIDEr - AIC b5 CIDEr", lambda b1, b50: b1["SAIC 1/1"]["CIDEr"] - b1["AIC b5"]["CIDEr"], ">=", -3.0),
    ("SAIC 5/5 CIDEr - AIC b5 CIDEr", lambda b1, b50: b1["SAIC 5/5"]["CIDEr"] - b1["AIC b5"]["CIDEr"], ">=", -2.0),
    ("SAIC 1/1 CIDEr - best IR-NAIC CIDEr", lambda b1, b50: b1["SAIC 1/1"]["CIDEr"] - best_ir_naic(b1), ">=", 3.0),
    ("SAIC 1/1 speed-up over AIC b5, batch 1", lambda b1, b50: b1["SAIC 1/1"]["x vs AIC b5"], ">=", 3.5),
    ("SAIC 1/1 speed-up over AIC b1, batch 1", lambda b1, b50: b1["SAIC 1/1"]["x vs AIC b1"], ">=", 2.5),
    ("largest overhead of any mode, batch 1", lambda b1, b50: max(r["overhead"] for r in b1.values()), "<=", 1.2),
    ("SAIC 1/1 captions/s over AIC b1, batch 50", lambda b1, b50: b50["SAIC 1/1"]["x vs AIC b1"], ">=", 1.5),
    ("SAIC 5/5 captions/s over AIC b5, batch 50", lambda b1, b50: b50["SAIC 5/5"]["x vs AIC b5"], ">=", 1.0),
]


def baseline_rows(report, label="CMLM-trained"):
    """Quality-only rows of another checkpoint's run (the fairly trained IR-NAIC), each mode
    named ``"{mode} ({label})"``, in the latency run's row layout."""
    return [{**row, "mode": f"{row['mode']} ({label})"} for row in (report or {}).get("rows", [])]


def quality_only(rows):
    """Table rows {"mode", *COLUMNS} of quality-only rows (no timing columns)."""
    return [{"mode": r["mode"], **{m: r.get(m) for m in QUALITY}} for r in rows]


def best_ir_naic_within(rows, passes=5):
    """The highest CIDEr-D of the IR-NAIC modes of at most ``passes`` iterations among ``rows``."""
    def iterations(mode):
        return int(mode.split("I=")[1].split()[0])

    return max(r["CIDEr"] for m, r in rows.items() if m.startswith("IR-NAIC") and iterations(m) <= passes)


#: Flickr8k's targets (official test split): the AIC teacher at Show, Attend and Tell's
#: hard-attention figures, SAIC close to it, above every IR-NAIC of at most 5 passes (the fairly
#: trained one included) and 3.5x as fast as beam 5
TARGETS_FLICKR8K = [
    ("AIC b5 BLEU-4", lambda b1, b50: b1["AIC b5"]["BLEU-4"], ">=", 21.3),
    ("AIC b5 METEOR", lambda b1, b50: b1["AIC b5"]["METEOR"], ">=", 20.3),
    ("SAIC 1/1 CIDEr - AIC b5 CIDEr", lambda b1, b50: b1["SAIC 1/1"]["CIDEr"] - b1["AIC b5"]["CIDEr"], ">=", -2.0),
    ("SAIC 5/5 CIDEr - AIC b5 CIDEr", lambda b1, b50: b1["SAIC 5/5"]["CIDEr"] - b1["AIC b5"]["CIDEr"], ">=", -1.0),
    ("SAIC 1/1 CIDEr - best IR-NAIC (I <= 5, either model) CIDEr",
     lambda b1, b50: b1["SAIC 1/1"]["CIDEr"] - best_ir_naic_within(b1), ">=", 3.0),
    ("SAIC 1/1 speed-up over AIC b5, batch 1", lambda b1, b50: b1["SAIC 1/1"]["x vs AIC b5"], ">=", 3.5),
]
TARGET_SETS = {"proxy": TARGETS, "flickr8k": TARGETS_FLICKR8K}

#: published figures on Flickr8k's official test split (Xu et al., "Show, Attend and Tell", ICML 2015, Table 1)
PUBLISHED_FLICKR8K = [
    {"mode": "Show, Attend and Tell, soft (published)", "BLEU-4": 19.5, "METEOR": 18.93},
    {"mode": "Show, Attend and Tell, hard (published)", "BLEU-4": 21.3, "METEOR": 20.30},
]


def target_rows(latency, throughput=None, targets=TARGETS, baseline=None):
    """[{"target", "measured", "met"}] for ``targets``; "met" is "yes", "no" or "not measured"
    (a mode or a column the runs do not have). ``baseline``: rows of :func:`baseline_rows`,
    which quality targets compare with too."""
    slow, fast = by_mode(latency), by_mode(throughput)
    slow.update({r["mode"]: r for r in baseline or []})
    rows = []
    for text, measure, op, bound in targets:
        target = f"{text} {op} {bound:g}"
        try:
            value = float(measure(slow, fast))
        except (KeyError, TypeError, ValueError):
            rows.append({"target": target, "measured": None, "met": "not measured"})
            continue
        met = value >= bound if op == ">=" else value <= bound
        rows.append({"target": target, "measured": round(value, 2), "met": "yes" if met else "no"})
    return rows
