"""Label queries: domain probabilities per (prompt, dimension, domain, labeler)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import numpy as np
import sqlite_utils

from review_store.prompts import subset_where
from review_store.rows import insert_new, insert_sorted, prompt_pages

NON_DOMAIN_LABELS = ("none", "unknown")
# a labeler's id from its name, evaluated once per query
LABELER_ID = "(SELECT id FROM labelers WHERE name = ?)"


class LabelQueries:
    db: sqlite_utils.Database

    def add_labeler(self, row: dict) -> None:
        """Record a labeler (name, engine, backend, model, mode, delta, template_hash, taxonomy_version, created_at,
        and ``domains``: per dimension, the order of its distributions' probabilities); a known name is kept as it was.

        >>> store.add_labeler({"name": "human:South Asia", "engine": "human"})
        >>> store.labeler("human:South Asia")["engine"]
        'human'
        """
        if self.labeler_id(row["name"]) is not None:
            return
        domains = json.dumps(row["domains"]) if row.get("domains") is not None else None
        self.db.execute(
            "INSERT INTO labelers (id, name, engine, backend, model, mode, delta, template_hash, taxonomy_version, "
            "created_at, domains) SELECT COALESCE(MAX(id), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM labelers",
            [row["name"], row.get("engine"), row.get("backend"), row.get("model"), row.get("mode"), row.get("delta"),
             row.get("template_hash"), row.get("taxonomy_version"), row.get("created_at"), domains])

    def labeler_id(self, name: str) -> int | None:
        """The numeric id the store keeps a labeler under, or None for a name it does not know.

        >>> store.labeler_id("nobody") is None
        True
        """
        row = self.db.execute("SELECT id FROM labelers WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    def _labeler_ids(self, names: Iterable[str]) -> dict[str, int]:
        """Ids of ``names``; a name never recorded (labels imported or added directly) is recorded on the way."""
        ids = {}
        for name in set(names):
            if self.labeler_id(name) is None:
                self.add_labeler({"name": name, "engine": name.split(":")[0] if name.startswith(("imported:", "human:"))
                                  else None})
            ids[name] = self.labeler_id(name)
        return ids

    def labeler(self, name: str) -> dict | None:
        """The provenance of a labeler (engine, backend, model, mode, delta, template hash, taxonomy version,
        and the layout of its distributions).

        >>> store.labeler("embed:default:softmax")["domains"]["culture"]
        ['culture.festivals', 'culture.festivals_markets', 'none']
        >>> store.labeler("nobody") is None
        True
        """
        rows = list(self.db.query("SELECT * FROM labelers WHERE name = ?", [name]))
        if not rows:
            return None
        return {**rows[0], "domains": json.loads(rows[0]["domains"]) if rows[0]["domains"] else None}

    def add_label_rows(self, labels: Iterable[dict], distributions: Iterable[dict] = (), types: Iterable[dict] = (),
                       failures: Iterable[dict] = ()) -> None:
        """What labelling prompts stores, the one place it is written: the assigned labels, each (prompt,
        dimension)'s whole distribution, semantic types and unusable answers (see the methods below).

        >>> store.add_label_rows([])
        """
        self.add_labels(labels)
        self.add_label_distributions(distributions)
        self.add_semantic_types(types)
        self.add_label_failures(failures)

    def add_labels(self, rows: Iterable[dict]) -> int:
        """Add assigned labels (prompt_id, dimension, domain, probability, labeler): the domains a labeler gives
        a prompt, or 'none' / 'unknown'. A label already stored is kept as it was. Returns how many were new.

        >>> store.add_labels([{"prompt_id": "p2", "dimension": "culture", "domain": "culture.festivals", "probability": 1.0,
        ...                    "labeler": "human:South Asia"}])
        1
        >>> store.labelers_with_labels()
        ['embed:default:softmax', 'human:South Asia', 'imported:prompts.csv']
        """
        rows = list(rows)
        ids = self._labeler_ids(r["labeler"] for r in rows)
        return insert_sorted(
            self.db, "INSERT OR IGNORE INTO labels (prompt_id, labeler_id, dimension, domain, probability) "
            "VALUES (?, ?, ?, ?, ?)", ((r["prompt_id"], ids[r["labeler"]], r["dimension"], r["domain"], r["probability"])
                                       for r in rows))

    def add_label_distributions(self, rows: Iterable[dict]) -> int:
        """Add a labeler's whole distribution per (prompt_id, dimension, labeler, probabilities {domain: p}),
        stored as float16 in the order of the labeler's ``domains`` (a domain left out reads as 0).

        >>> store.add_labeler({"name": "embed:default:independent", "domains": {"safety": ["safety.privacy_violation", "none"]}})
        >>> store.add_label_distributions([{"prompt_id": "p1", "dimension": "safety", "labeler": "embed:default:independent",
        ...                                 "probabilities": {"safety.privacy_violation": 0.5}}])
        1
        >>> store.label_distributions("embed:default:independent", "safety")[2].tolist()
        [[0.5, 0.0]]
        >>> store.add_label_distributions([{"prompt_id": "p1", "dimension": "safety", "labeler": "imported:prompts.csv",
        ...                                 "probabilities": {"safety.privacy_violation": 1.0}}])
        Traceback (most recent call last):
        ...
        ValueError: labeler 'imported:prompts.csv' has no recorded domains to lay its distributions out by
        """
        rows = list(rows)
        layouts = {}
        for name in {r["labeler"] for r in rows}:
            known = self.labeler(name)
            if not known or not known["domains"]:
                raise ValueError(f"labeler '{name}' has no recorded domains to lay its distributions out by")
            layouts[name] = (known["id"], {d: {domain: i for i, domain in enumerate(order)}
                                           for d, order in known["domains"].items()})
        encoded = []
        for r in rows:
            labeler_id, positions = layouts[r["labeler"]]
            order = positions[r["dimension"]]
            dense = np.zeros(len(order), dtype=np.float16)
            for domain, p in r["probabilities"].items():
                dense[order[domain]] = p
            encoded.append((labeler_id, r["dimension"], r["prompt_id"], dense.tobytes()))
        return insert_sorted(self.db, "INSERT OR IGNORE INTO label_distributions (labeler_id, dimension, prompt_id, "
                             "probabilities) VALUES (?, ?, ?, ?)", encoded)

    def label_counts(self) -> dict:
        """Per labeler and dimension: prompts assigned to each domain, and the None / Unknown counts apart.

        >>> store.label_counts()["imported:prompts.csv"]
        {'safety': {'domains': {'safety.privacy_violation': 1}, 'none': 1, 'unknown': 0}}
        >>> store.label_counts()["embed:default:softmax"]["culture"]
        {'domains': {'culture.festivals': 1}, 'none': 1, 'unknown': 0}
        """
        counts: dict = {}
        for row in self.db.query(
            "SELECT b.name AS labeler, c.dimension, c.domain, c.n FROM (SELECT labeler_id, dimension, domain, "
            "COUNT(*) AS n FROM labels GROUP BY labeler_id, domain, dimension) c JOIN labelers b ON b.id = c.labeler_id "
            "ORDER BY b.name, c.dimension, c.n DESC, c.domain"
        ):
            dim = counts.setdefault(row["labeler"], {}).setdefault(
                row["dimension"], {"domains": {}, "none": 0, "unknown": 0})
            if row["domain"] in NON_DOMAIN_LABELS:
                dim[row["domain"]] = row["n"]
            else:
                dim["domains"][row["domain"]] = row["n"]
        return counts

    def prompts_without_labels(self, labeler: str, batch: int = 256, subset: dict | None = None) -> Iterator[list[dict]]:
        """Batches of (id, seq, text) of prompts that ``labeler`` has not labelled yet, in seq order; only
        those of ``subset`` when given (see :func:`review_store.prompts.subset_where`).

        >>> [[p["id"] for p in batch] for batch in store.prompts_without_labels("human:South Asia", batch=1)]
        [['p1'], ['p2']]
        """
        where, params = subset_where(subset)
        return prompt_pages(self.db, f"NOT EXISTS (SELECT 1 FROM labels l WHERE l.prompt_id = p.id AND "
                                     f"l.labeler_id = {LABELER_ID}) AND {where}", [labeler, *params], batch)

    def count_prompts_without_labels(self, labeler: str, subset: dict | None = None) -> int:
        """How many prompts ``labeler`` has not labelled yet (of ``subset``, when given).

        >>> store.count_prompts_without_labels("imported:prompts.csv"), store.count_prompts_without_labels("nobody")
        (0, 2)
        >>> store.count_prompts_without_labels("nobody", {"source": "no-such-file.csv"})
        0
        """
        where, params = subset_where(subset)
        return self.db.execute(
            "SELECT COUNT(*) FROM prompts p WHERE NOT EXISTS "
            f"(SELECT 1 FROM labels l WHERE l.prompt_id = p.id AND l.labeler_id = {LABELER_ID}) AND {where}",
            [labeler, *params]).fetchone()[0]

    def has_labels(self, labeler: str) -> bool:
        """Whether ``labeler`` has assigned any label (what ``label_counts`` would list).

        >>> store.has_labels("imported:prompts.csv"), store.has_labels("human:South Asia")
        (True, False)
        """
        return self.db.execute(f"SELECT 1 FROM labels WHERE labeler_id = {LABELER_ID} LIMIT 1",
                               [labeler]).fetchone() is not None

    def labelers_with_labels(self) -> list[str]:
        """Names of every labeler that has assigned a label.

        >>> store.labelers_with_labels()
        ['embed:default:softmax', 'imported:prompts.csv']
        """
        return [r[0] for r in self.db.execute(
            "SELECT name FROM labelers b WHERE EXISTS (SELECT 1 FROM labels l WHERE l.labeler_id = b.id) ORDER BY name")]

    def training_labels(self, labelers: list[str]) -> list[dict]:
        """Assigned labels (not Unknown) of ``labelers``, with each prompt's text and dedup cluster:
        what a learned labelling model is fitted on. A prompt labelled by several labelers appears once per labeler.

        >>> [(r["prompt_id"], r["domain"], r["cluster"]) for r in store.training_labels(["imported:prompts.csv"])]
        [('p1', 'safety.privacy_violation', 'p1'), ('p2', 'none', 'p2')]
        """
        return list(self.db.query(
            "SELECT l.prompt_id, p.text, COALESCE(p.cluster_id, p.id) AS cluster, b.name AS labeler, l.dimension, "
            "l.domain FROM labels l JOIN labelers b ON b.id = l.labeler_id JOIN prompts p ON p.id = l.prompt_id "
            "WHERE l.domain != 'unknown' AND b.name IN (SELECT value FROM json_each(?)) "
            "ORDER BY p.seq, l.dimension, l.domain", [json.dumps(labelers)]))

    def training_types(self, labelers: list[str]) -> list[dict]:
        """Each prompt's most probable semantic type by any of ``labelers`` (prompt_id, labeler, type).

        >>> store.training_types(["embed:default:softmax"])
        [{'prompt_id': 'p1', 'labeler': 'embed:default:softmax', 'type': 'relation'}, {'prompt_id': 'p2', 'labeler': 'embed:default:softmax', 'type': 'attribute'}]
        """
        return list(self.db.query(
            "SELECT prompt_id, b.name AS labeler, type FROM (SELECT prompt_id, labeler_id, type, ROW_NUMBER() OVER "
            "(PARTITION BY prompt_id, labeler_id ORDER BY probability DESC, type) AS n FROM semantic_types "
            "WHERE labeler_id IN (SELECT id FROM labelers WHERE name IN (SELECT value FROM json_each(?)))) "
            "JOIN labelers b ON b.id = labeler_id WHERE n = 1", [json.dumps(labelers)]))

    def save_label_model(self, row: dict) -> None:
        """A fitted labelling model (id, labeler, params, provenance, model bytes, created_at); a repeat is kept as it was.

        >>> store.save_label_model({"id": "m1", "labeler": "trained:m1", "params": {"C": 1.0}, "provenance": {"prompts": 2},
        ...                         "model": b"...", "created_at": "2026-12-02T10:00:00+00:00"})
        >>> [(m["id"], m["bytes"], m["used_by"]) for m in store.label_models()]
        [('m1', 3, 0)]
        """
        self.db["label_models"].insert({**row, "params": json.dumps(row["params"], sort_keys=True),
                                        "provenance": json.dumps(row["provenance"], sort_keys=True)}, ignore=True)

    def label_model(self, model_id: str) -> dict | None:
        """A fitted labelling model by id (its parameters, provenance and bytes), or None.

        >>> store.label_model("no-such-model") is None
        True
        """
        rows = list(self.db.query("SELECT * FROM label_models WHERE id = ?", [model_id]))
        return {**rows[0], "params": json.loads(rows[0]["params"]),
                "provenance": json.loads(rows[0]["provenance"])} if rows else None

    def label_models(self) -> list[dict]:
        """Every stored fitted labelling model, newest first: id, labeler, params, provenance, created_at, its size in
        bytes, and ``used_by``: how many stage runs other than labelling name its labeler (pairs made from
        its labels, review queues, exports).

        >>> store.label_models()
        []
        """
        rows = list(self.db.query(
            "SELECT m.id, m.labeler, m.params, m.provenance, m.created_at, length(m.model) AS bytes, "
            "(SELECT COUNT(*) FROM stage_runs r WHERE r.stage != 'label' AND instr(r.params, json_quote(m.labeler))) "
            "AS used_by FROM label_models m ORDER BY m.created_at DESC, m.id"))
        return [{**r, "params": json.loads(r["params"]), "provenance": json.loads(r["provenance"])} for r in rows]

    def delete_label_models(self, ids: list[str]) -> int:
        """Drop fitted labelling models (their labels and provenance stay: a refit on the same inputs gives the same
        model). Returns how many went.

        >>> store.save_label_model({"id": "m1", "labeler": "trained:m1", "params": {}, "provenance": {}, "model": b"...",
        ...                         "created_at": "2026-12-02T10:00:00+00:00"})
        >>> store.delete_label_models(["m1", "m2"])
        1
        """
        return self.db.execute("DELETE FROM label_models WHERE id IN (SELECT value FROM json_each(?))",
                               [json.dumps(ids)]).rowcount

    def add_semantic_types(self, rows: Iterable[dict]) -> int:
        """Semantic type probabilities (prompt_id, type, probability, labeler); a row already stored is
        kept as it was. Returns how many were new.

        >>> store.add_semantic_types([{"prompt_id": "p2", "type": "object", "probability": 0.75, "labeler": "human:South Asia"}])
        1
        >>> store.top_semantic_types(["p2"])
        {'p2': 'object'}
        """
        rows = list(rows)
        ids = self._labeler_ids(r["labeler"] for r in rows)
        return insert_sorted(
            self.db, "INSERT OR IGNORE INTO semantic_types (prompt_id, labeler_id, type, probability) VALUES (?, ?, ?, ?)",
            ((r["prompt_id"], ids[r["labeler"]], r["type"], r["probability"]) for r in rows))

    def semantic_types_of(self, labeler: str) -> Iterator[tuple[str, str, float]]:
        """(prompt id, type, probability) of every semantic type probability ``labeler`` stored.

        >>> sorted(store.semantic_types_of("embed:default:softmax"))
        [('p1', 'object', 0.25), ('p1', 'relation', 0.75), ('p2', 'attribute', 0.5)]
        """
        yield from self.db.execute(
            f"SELECT prompt_id, type, probability FROM semantic_types WHERE labeler_id = {LABELER_ID}", [labeler])

    def replace_labels(self, labeler: str, prompt_ids: list[str], labels: list[dict], types: list[dict]) -> None:
        """The labels and semantic types of ``labeler`` for ``prompt_ids`` become exactly ``labels`` and
        ``types`` (labels people give change as they answer).

        >>> store.replace_labels("imported:prompts.csv", ["p2"], [{"prompt_id": "p2", "dimension": "culture",
        ...                      "domain": "culture.festivals", "probability": 1.0, "labeler": "imported:prompts.csv"}], [])
        >>> sorted(store.assigned_labels("imported:prompts.csv"))
        [('p1', 'safety', 'safety.privacy_violation', 1.0), ('p2', 'culture', 'culture.festivals', 1.0)]
        """
        ids = json.dumps(prompt_ids)
        labeler_id = self._labeler_ids([labeler])[labeler]
        self.db.execute("DELETE FROM labels WHERE labeler_id = ? AND prompt_id IN (SELECT value FROM json_each(?))",
                        [labeler_id, ids])
        self.db.execute("DELETE FROM semantic_types WHERE labeler_id = ? AND prompt_id IN (SELECT value FROM json_each(?))",
                        [labeler_id, ids])
        self.add_labels(labels)
        self.add_semantic_types(types)

    def add_label_failures(self, rows: Iterable[dict]) -> int:
        """Answers that could not be used (prompt_id, dimension, labeler, raw, reason, created_at).

        >>> store.add_label_failures([{"prompt_id": "p1", "dimension": "value", "labeler": "embed:default:softmax",
        ...                            "raw": "", "reason": "empty", "created_at": "2026-12-02T10:00:00+00:00"}])
        1
        >>> store.label_failure_counts()
        {'embed:default:softmax': {'empty': 1, 'unparsable': 1}}
        """
        return insert_new(self.db, "label_failures", rows)

    def assigned_labels(self, labeler: str, prompt_ids: list[str] | None = None) -> Iterator[tuple[str, str, str, float]]:
        """(prompt id, dimension, domain, probability) of every assigned label of ``labeler`` (or of its labels
        of ``prompt_ids``).

        >>> sorted(store.assigned_labels("embed:default:softmax", ["p2"]))
        [('p2', 'culture', 'culture.festivals', 0.5625), ('p2', 'safety', 'none', 0.875)]
        """
        if prompt_ids is None:
            yield from self.db.execute(
                f"SELECT prompt_id, dimension, domain, probability FROM labels WHERE labeler_id = {LABELER_ID}",
                [labeler])
            return
        yield from self.db.execute(
            "SELECT prompt_id, dimension, domain, probability FROM labels WHERE prompt_id IN "
            f"(SELECT value FROM json_each(?)) AND +labeler_id = {LABELER_ID}", [json.dumps(prompt_ids), labeler])

    def label_distributions(self, labeler: str, dimension: str) -> tuple[list[str], list[str], np.ndarray]:
        """(prompt ids, domains, probabilities: one row per prompt) of ``labeler``'s stored distributions in
        ``dimension``; a labeler that stores none (imported labels) gives its assigned labels as 0/1 rows.

        >>> ids, domains, matrix = store.label_distributions("embed:default:softmax", "culture")
        >>> ids, domains, matrix.tolist()
        (['p1', 'p2'], ['culture.festivals', 'culture.festivals_markets', 'none'], [[0.125, 0.125, 0.75], [0.5625, 0.375, 0.0625]])
        >>> ids, domains, matrix = store.label_distributions("imported:prompts.csv", "safety")
        >>> ids, domains, matrix.tolist()
        (['p2', 'p1'], ['none', 'safety.privacy_violation'], [[1.0, 0.0], [0.0, 1.0]])
        """
        known = self.labeler(labeler)
        order = (known or {}).get("domains") or {}
        if dimension in order:
            rows = self.db.execute(
                "SELECT prompt_id, probabilities FROM label_distributions WHERE labeler_id = ? AND dimension = ?",
                [known["id"], dimension]).fetchall()
            if rows:
                matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(len(rows), -1)
                return [r[0] for r in rows], order[dimension], matrix.astype(np.float32)
        assigned: dict[str, dict[str, float]] = {}
        for prompt_id, domain, probability in self.db.execute(
                f"SELECT prompt_id, domain, probability FROM labels WHERE labeler_id = {LABELER_ID} AND dimension = ?",
                [labeler, dimension]):
            assigned.setdefault(prompt_id, {})[domain] = probability
        domains = sorted({d for probs in assigned.values() for d in probs})
        matrix = np.array([[probs.get(d, 0.0) for d in domains] for probs in assigned.values()], dtype=np.float32)
        return list(assigned), domains, matrix.reshape(len(assigned), len(domains))

    def top_semantic_types(self, prompt_ids: list[str] | None = None) -> dict[str, str]:
        """Per prompt (default: every prompt): its most probable semantic type over every labeler.

        >>> store.top_semantic_types()
        {'p1': 'relation', 'p2': 'attribute'}
        """
        where, params = ("WHERE prompt_id IN (SELECT value FROM json_each(?))", [json.dumps(prompt_ids)]) \
            if prompt_ids is not None else ("", [])
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT prompt_id, type FROM (SELECT prompt_id, type, ROW_NUMBER() OVER (PARTITION BY prompt_id "
            f"ORDER BY probability DESC, type) AS rank FROM semantic_types {where}) WHERE rank = 1", params)}

    def semantic_type_counts(self) -> dict:
        """Per labeler: prompts whose most probable semantic type is each type.

        >>> store.semantic_type_counts()
        {'embed:default:softmax': {'attribute': 1, 'relation': 1}}
        """
        counts: dict = {}
        for row in self.db.query(
            "SELECT b.name AS labeler, type, COUNT(*) AS n FROM (SELECT prompt_id, labeler_id, type, "
            "ROW_NUMBER() OVER (PARTITION BY prompt_id, labeler_id ORDER BY probability DESC, type) AS rank "
            "FROM semantic_types) JOIN labelers b ON b.id = labeler_id WHERE rank = 1 "
            "GROUP BY b.name, type ORDER BY b.name, type"):
            counts.setdefault(row["labeler"], {})[row["type"]] = row["n"]
        return counts

    def label_failure_counts(self) -> dict:
        """Per labeler and reason: answers kept raw and counted as Unknown.

        >>> store.label_failure_counts()
        {'embed:default:softmax': {'unparsable': 1}}
        """
        counts: dict = {}
        for row in self.db.query(
            "SELECT labeler, reason, COUNT(*) AS n FROM label_failures GROUP BY labeler, reason"):
            counts.setdefault(row["labeler"], {})[row["reason"]] = row["n"]
        return counts
