"""Steering vectors built from curated pairs (:mod:`pipeline.steer.build`); applied by the hf engine."""
