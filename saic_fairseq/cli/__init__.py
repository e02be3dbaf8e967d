"""Console commands installed by setup.py: saic-evaluate, saic-benchmark, saic-caption."""
