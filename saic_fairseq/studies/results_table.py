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


def target_rows(latency, throughput=None):
    """[{"target", "measured", "met"}] for :data:`TARGETS`; "met" is "yes", "no" or "not
    measured" (a mode or a column the runs do not have)."""
    slow, fast = by_mode(latency), by_mode(throughput)
    rows = []
    for text, measure, op, bound in TARGETS:
        target = f"{text} {op} {bound:g}"
        try:
            value = float(measure(slow, fast))
        except (KeyError, TypeError, ValueError):
            rows.append({"target": target, "measured": None, "met": "not measured"})
            continue
        met = value >= bound if op == ">=" else value <= bound
        rows.append({"target": target, "measured": round(value, 2), "met": "yes" if met else "no"})
    return rows
