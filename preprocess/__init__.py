"""Command-line scripts that turn COCO files and images into what fairseq-preprocess and the
``saic_captioning`` task read. Run them as ``python -m preprocess.NAME --help``."""
