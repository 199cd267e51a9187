"""Label queries: domain probabilities per (prompt, dimension, domain, labeler)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from review_store.prompts import _inserted

NON_DOMAIN_LABELS = ("none", "unknown")


class LabelQueries:
    db: sqlite_utils.Database

    def add_labels(self, rows: Iterable[dict]) -> int:
        """Add labels (prompt_id, dimension, domain, probability, labeler, taxonomy_version, created_at).

        A label already stored for the same (prompt, dimension, domain, labeler) is kept as it was.
        Returns how many were new.
        """
        return _inserted(self.db, "labels", rows)

    def label_counts(self) -> dict:
        """Per labeler and dimension: prompts per domain, and the None / Unknown counts apart.

        >>> store.label_counts()
        {'imported:dev.csv': {'safety': {'domains': {'safety.self_harm': 84}, 'none': 7690, 'unknown': 28}}}
        """
        counts: dict = {}
        for row in self.db.query(
            "SELECT labeler, dimension, domain, COUNT(*) AS n FROM labels "
            "GROUP BY labeler, dimension, domain ORDER BY labeler, dimension, n DESC, domain"
        ):
            dim = counts.setdefault(row["labeler"], {}).setdefault(
                row["dimension"], {"domains": {}, "none": 0, "unknown": 0})
            if row["domain"] in NON_DOMAIN_LABELS:
                dim[row["domain"]] = row["n"]
            else:
                dim["domains"][row["domain"]] = row["n"]
        return counts
