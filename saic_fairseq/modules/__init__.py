"""Building blocks of the SAIC network (attention with relative positions, layers, layouts)."""
