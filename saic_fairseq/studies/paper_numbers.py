"""The paper's reported numbers (MS COCO Karpathy test split, Transformer-base), printed beside
ours by the study commands. Fig. 2 is a plot without printed values, so it has none here."""

#: Table 1: Group masking at p = 0.7, beam M and iterations I -> (BLEU-4, CIDEr)
TABLE1 = {(1, 1): (31.0, 108.5), (5, 1): (31.2, 109.0), (1, 5): (31.0, 108.8), (5, 5): (31.3, 109.2)}

_COLUMNS = ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE")
#: Table 5: distillation source -> metrics
TABLE5 = {
    "raw": dict(zip(_COLUMNS, (37.5, 28.1, 57.3, 123.3, 21.3))),
    "sequence-level": dict(zip(_COLUMNS, (38.4, 28.9, 58.1, 126.6, 21.8))),
    "saic": dict(zip(_COLUMNS, (38.4, 29.0, 58.1, 127.1, 21.9))),  # hybrid distillation
}
#: Table 6: group size k -> metrics (speed is discussed, not tabulated, in the paper)
TABLE6 = {
    "k2": dict(zip(_COLUMNS, (38.6, 29.1, 58.3, 128.4, 22.0))),
    "k3": dict(zip(_COLUMNS, (38.4, 28.9, 58.2, 127.4, 21.9))),
    "saic": dict(zip(_COLUMNS, (38.4, 29.0, 58.1, 127.1, 21.9))),
}
#: Table 7: the full model and each technique removed -> (BLEU-4, CIDEr). The paper's
#: "-Hybr. Dist." column equals its Table 5 "Raw" row, so it is compared with our raw run.
TABLE7 = {
    "saic": {"BLEU-4": 38.4, "CIDEr": 127.1},
    "no-finetune": {"BLEU-4": 38.3, "CIDEr": 126.8},
    "no-rpr": {"BLEU-4": 38.2, "CIDEr": 126.5},
    "no-curriculum": {"BLEU-4": 38.0, "CIDEr": 126.0},
    "raw": {"BLEU-4": 37.5, "CIDEr": 123.3},
}
