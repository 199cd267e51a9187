"""Fingerprints against the ``simhash`` package, the oracle."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simhash import Simhash

from pipeline.text.simhash import FeatureSpec, fingerprints, text_features

WORDS = ["festival", "elders", "recipe", "river", "museum", "vote", "privacy", "harm", "the", "and", "of",
         "dance", "wealth", "honesty", "crafts", "language", "ä", "日本", "naïve", "x"]
texts = st.lists(st.sampled_from(WORDS), min_size=0, max_size=30).map(" ".join)
specs = st.sampled_from(["words", "words,word_ngrams:2", "word_ngrams:3*2", "char_ngrams:4",
                         "words*3,char_ngrams:3,word_ngrams:2*2"])


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(texts, min_size=1, max_size=20), spec_text=specs, stopwords=st.booleans(),
       bits=st.sampled_from([64, 32, 16]))
def test_fingerprints_are_bit_identical_to_the_simhash_package(batch, spec_text, stopwords, bits):
    spec = FeatureSpec.parse(spec_text, stopwords=stopwords, min_features=1, bits=bits)
    values, short = fingerprints(batch, spec, workers=1)
    for text, value, is_short in zip(batch, values, short):
        features = text_features(text, spec)
        if is_short:
            assert len({f for f, _ in features}) < 1
            continue
        assert int(value) == Simhash(features, f=bits).value


def test_parallel_fingerprints_equal_serial_ones(dev_csv):
    import pandas as pd

    texts = pd.read_csv(dev_csv)["prompt"].tolist()[:6000]
    spec = FeatureSpec()
    serial, _ = fingerprints(texts, spec, workers=1)
    parallel, _ = fingerprints(texts, spec, chunk=1000, workers=2)
    assert np.array_equal(serial, parallel)


def test_short_texts_get_no_fingerprint_so_they_cannot_collapse():
    spec = FeatureSpec()  # words + bigrams, stop words dropped, at least 4 distinct features
    values, short = fingerprints(["Hi!", "Why?", "Tell me about it", "Tell me about the old river museum"], spec,
                                 workers=1)
    assert short.tolist() == [True, True, True, False]
    assert values[:3].tolist() == [0, 0, 0]


def test_stop_words_are_dropped_unless_kept():
    assert [f for f, _ in text_features("The river and the sea", FeatureSpec.parse("words"))] == ["w:river", "w:sea"]
    kept = FeatureSpec.parse("words", stopwords=True)
    assert len(text_features("The river and the sea", kept)) == 5


@pytest.mark.parametrize("text, message", [
    ("shingles:3", "unknown kind 'shingles'"),
    ("words:x", "not kind[:n][*weight]"),
    ("word_ngrams:0", "at least 1"),
    ("", "at least one kind"),
])
def test_bad_feature_specs_are_refused(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        FeatureSpec.parse(text)


def test_bit_width_must_be_whole_bytes_up_to_64():
    with pytest.raises(ValueError, match="multiple of 8"):
        FeatureSpec.parse("words", bits=60)
