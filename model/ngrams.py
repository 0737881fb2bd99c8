"""TF-IDF n-gram features with fixed vocabularies, stored as plain arrays (no pickle).

Shared by the two learned checks that sit beside the language model: the prompt-injection
classifier (``model/injection_classifier.py``) and the category check (``model/category_check.py``).
Each is a scikit-learn ``FeatureUnion`` of a word and a character ``TfidfVectorizer`` when trained;
scoring rebuilds those vectorizers from the stored vocabularies and IDF weights, so training and
inference share one feature definition.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

BLOCKS = ("word", "char")
"""The feature blocks, in the order their columns are stacked."""


@dataclass(frozen=True)
class NGramFeatures:
    """One TF-IDF feature block: how the text is cut into n-grams, which ones count, their IDF."""

    analyzer: str
    ngram_range: tuple[int, int]
    vocabulary: tuple[str, ...]
    idf: np.ndarray

    @classmethod
    def from_vectorizer(cls, vectorizer: TfidfVectorizer) -> NGramFeatures:
        by_index = sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])
        return cls(vectorizer.analyzer, tuple(vectorizer.ngram_range), tuple(term for term, _ in by_index),
                   vectorizer.idf_.astype(np.float32))

    @functools.cached_property
    def vectorizer(self) -> TfidfVectorizer:
        vectorizer = TfidfVectorizer(analyzer=self.analyzer, ngram_range=self.ngram_range, sublinear_tf=True,
                                     vocabulary={term: index for index, term in enumerate(self.vocabulary)})
        vectorizer.idf_ = self.idf.astype(np.float64)
        return vectorizer

    def transform(self, texts: list[str]) -> scipy.sparse.csr_matrix:
        return self.vectorizer.transform(texts)


def blocks_of(pipeline: Pipeline) -> dict[str, NGramFeatures]:
    """The fitted word and character blocks of a ``features`` -> ``classifier`` pipeline."""
    vectorizers = [vectorizer for _, vectorizer in pipeline.named_steps["features"].transformer_list]
    return {name: NGramFeatures.from_vectorizer(vectorizer) for name, vectorizer in zip(BLOCKS, vectorizers, strict=True)}


def features(blocks: dict[str, NGramFeatures], texts: list[str]) -> scipy.sparse.csr_matrix:
    """The texts' feature rows: each block's columns side by side, in ``BLOCKS`` order."""
    return scipy.sparse.hstack([blocks[name].transform(texts) for name in BLOCKS]).tocsr()


def width(blocks: dict[str, NGramFeatures]) -> int:
    return sum(len(blocks[name].vocabulary) for name in BLOCKS)


def block_arrays(blocks: dict[str, NGramFeatures]) -> dict[str, np.ndarray]:
    """What ``np.savez`` stores of the blocks: each one's vocabulary and IDF weights."""
    arrays = {}
    for name in BLOCKS:
        arrays[f"{name}_vocabulary"] = np.array(blocks[name].vocabulary)
        arrays[f"{name}_idf"] = blocks[name].idf
    return arrays


def block_specs(blocks: dict[str, NGramFeatures]) -> dict:
    """What the metadata file records of the blocks (how to cut the text; the vocabularies' sizes)."""
    return {name: {"analyzer": blocks[name].analyzer, "ngram_range": list(blocks[name].ngram_range),
                   "size": len(blocks[name].vocabulary)} for name in BLOCKS}


def load_blocks(arrays, specs: dict) -> dict[str, NGramFeatures]:
    """The blocks back from ``block_arrays`` (an open ``np.load``) and ``block_specs``."""
    return {name: NGramFeatures(specs[name]["analyzer"], tuple(specs[name]["ngram_range"]),
                                tuple(arrays[f"{name}_vocabulary"].tolist()), arrays[f"{name}_idf"])
            for name in BLOCKS}


def write_artifact(folder: Path, weights_file: str, metadata_file: str, blocks: dict[str, NGramFeatures],
                   weights: dict[str, np.ndarray], metadata: dict) -> None:
    """One learned check on disk: the blocks and ``weights`` (stored as float32) in ``weights_file``,
    ``metadata`` plus the blocks' specs in ``metadata_file``."""
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / weights_file, **block_arrays(blocks),
                        **{name: array.astype(np.float32) for name, array in weights.items()})
    described = {**metadata, "features": block_specs(blocks)}
    (folder / metadata_file).write_text(json.dumps(described, indent=2) + "\n", encoding="utf-8")


def read_artifact(folder: Path, weights_file: str, metadata_file: str, names: tuple[str, ...]
                  ) -> tuple[dict, dict[str, NGramFeatures], dict[str, np.ndarray]]:
    """What ``write_artifact`` wrote: the metadata, the blocks and the named weights (as float64)."""
    described = json.loads((folder / metadata_file).read_text(encoding="utf-8"))
    with np.load(folder / weights_file, allow_pickle=False) as arrays:
        blocks = load_blocks(arrays, described["features"])
        weights = {name: arrays[name].astype(np.float64) for name in names}  # converted once, here
    return described, blocks, weights
