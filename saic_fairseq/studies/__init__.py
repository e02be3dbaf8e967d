"""The paper's studies beyond Table 2: masking (Fig. 2, Table 1), distillation (Table 5),
group size (Table 6), ablations (Table 7), SCST; the paper's own numbers to compare with."""
