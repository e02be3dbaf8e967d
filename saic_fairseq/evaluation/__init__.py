"""Caption quality: COCO metrics (pycocoevalcap), CIDEr-D with corpus document frequencies,
and readers of fairseq-generate output."""
