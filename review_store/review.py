"""Review queries: panels and annotators, review items per queue, annotations, human statuses."""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import sqlite_utils

from review_store.rows import insert_new


class ReviewQueries:
    db: sqlite_utils.Database

    # -- panels and annotators ----------------------------------------------------------------

    def add_panel(self, row: dict) -> None:
        """A panel (name, description, min_submissions, created_at); an existing one is updated.

        >>> store.add_panel({"name": "West Africa", "description": "", "min_submissions": 3, "created_at": "2026-12-02"})
        >>> [(p["name"], p["min_submissions"], p["members"]) for p in store.panels()]
        [('South Asia', 2, ['asha']), ('West Africa', 3, [])]
        """
        self.db["panels"].upsert(row, pk="name")

    def panels(self) -> list[dict]:
        """Every panel with its members' names.

        >>> store.panels()
        [{'name': 'South Asia', 'description': 'reviewers from India and Sri Lanka', 'min_submissions': 2, 'created_at': '2026-12-01T09:00:00+00:00', 'show_suggestions': 0, 'members': ['asha']}]
        """
        panels = list(self.db.query("SELECT * FROM panels ORDER BY name"))
        for panel in panels:
            panel["members"] = [r[0] for r in self.db.execute(
                "SELECT annotator FROM panel_members WHERE panel = ? ORDER BY annotator", [panel["name"]])]
        return panels

    def panel(self, name: str) -> dict | None:
        """One review panel with its settings (submissions needed, suggestions shown), or None.

        >>> store.panel("South Asia")["min_submissions"], store.panel("West Africa")
        (2, None)
        """
        return next((p for p in self.panels() if p["name"] == name), None)

    def add_annotator(self, row: dict, panels: Iterable[str] = ()) -> None:
        """An annotator (name and optional attributes) and panels they sit on; a stored annotator's
        attributes are kept as they are (:meth:`edit_annotator` changes them).

        >>> store.add_annotator({"name": "asha", "locale": "fr-FR"}, panels=["South Asia"])
        >>> store.annotators()[0]["locale"]
        'en-IN'
        >>> store.add_annotator({"name": "kofi", "locale": "en-GH"}, panels=["South Asia"])
        >>> store.panel("South Asia")["members"]
        ['asha', 'kofi']
        """
        self.db["annotators"].insert(row, pk="name", ignore=True)
        insert_new(self.db, "panel_members", ({"panel": p, "annotator": row["name"]} for p in panels))

    def edit_annotator(self, name: str, changes: dict, panels: Iterable[str] = ()) -> None:
        """Set the attributes in ``changes`` (None clears one) of a stored annotator; add panels.

        >>> store.edit_annotator("asha", {"culture": None, "age_band": "25-34"})
        >>> {k: store.annotators()[0][k] for k in ("locale", "culture", "age_band")}
        {'locale': 'en-IN', 'culture': None, 'age_band': '25-34'}
        """
        if changes:
            self.db["annotators"].update(name, changes)
        insert_new(self.db, "panel_members", ({"panel": p, "annotator": name} for p in panels))

    def annotators(self, panel: str | None = None) -> list[dict]:
        """The annotators (of ``panel``, when given) with their attributes and panels.

        >>> [(a["name"], a["locale"], a["culture"]) for a in store.annotators("South Asia")]
        [('asha', 'en-IN', 'Malayali')]
        >>> store.annotators("West Africa")
        []
        """
        if panel is None:
            return list(self.db.query("SELECT * FROM annotators ORDER BY name"))
        return list(self.db.query("SELECT a.* FROM annotators a JOIN panel_members m ON m.annotator = a.name "
                                  "WHERE m.panel = ? ORDER BY a.name", [panel]))

    # -- what goes to review ------------------------------------------------------------------

    def pairs_for_queue(self, queue: str, band: float = 0.1, delta: float = 0.5) -> list[dict]:
        """(prompt_id, pair_id, reason) of the pairs a queue holds: ``borderline`` judge verdicts,
        ``rejected`` by the judge or after the resampling budget, the ``audit`` sample of accepted
        pairs, and ``uncertain_label``: a domain probability within ``band`` of δ.

        >>> store.pairs_for_queue("audit")
        [{'prompt_id': 'p1', 'pair_id': 'pair1', 'reason': 'audit: audit sample'}]
        >>> store.pairs_for_queue("borderline")
        []
        >>> store.pairs_for_queue("uncertain_label", band=0.4)
        [{'prompt_id': 'p1', 'pair_id': 'pair1', 'reason': 'label near delta: culture.festivals 0.12; culture.festivals_markets 0.12; safety.privacy_violation 0.88'}]
        """
        if queue == "uncertain_label":
            return self._uncertain_label_pairs(band, delta)
        where = {"borderline": "status = 'borderline'",
                 "rejected": "status = 'rejected' AND (reason_codes LIKE '%resampling_exhausted%' "
                             "OR reason_codes LIKE '%judge_fail%')",
                 "audit": "status = 'accepted' AND audit = 1"}[queue]
        return [{"prompt_id": r["prompt_id"], "pair_id": r["id"],
                 "reason": f"{queue}: {', '.join(json.loads(r['reason_codes'])) or 'audit sample'}"}
                for r in self.db.query(f"SELECT id, prompt_id, reason_codes FROM pairs WHERE {where} ORDER BY id")]

    def _uncertain_label_pairs(self, band: float, delta: float) -> list[dict]:
        pairs = {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT prompt_id, id, labeler FROM pairs")}
        near: dict[str, list[str]] = {}
        for labeler in sorted({labeler for _, labeler in pairs.values() if labeler}):
            for dimension in sorted(((self.labeler(labeler) or {}).get("domains") or {})):
                prompt_ids, domains, matrix = self.label_distributions(labeler, dimension)
                close = np.abs(matrix - delta) <= band
                close[:, [i for i, d in enumerate(domains) if d in ("none", "unknown")]] = False
                for row, column in zip(*np.nonzero(close)):
                    if pairs.get(prompt_ids[row], (None, None))[1] == labeler:
                        near.setdefault(prompt_ids[row], []).append(f"{domains[column]} {matrix[row, column]:.2f}")
        return [{"prompt_id": prompt_id, "pair_id": pairs[prompt_id][0], "reason": f"label near delta: {'; '.join(found)}"}
                for prompt_id, found in sorted(near.items())]

    def add_review_items(self, rows: Iterable[dict]) -> int:
        """Items (id, queue, panel, prompt_id, pair_id, reason, backend, created_at); returns how many were new.

        >>> store.add_review_items([{"id": "item2", "queue": "uncertain_label", "panel": "South Asia", "prompt_id": "p1",
        ...                          "pair_id": "pair1", "reason": "label near delta", "created_at": "2026-12-02"}])
        1
        >>> [(i["id"], i["queue"]) for i in store.review_items("South Asia")]
        [('item1', 'audit'), ('item2', 'uncertain_label')]
        """
        return insert_new(self.db, "review_items", rows)

    def review_items(self, panel: str | None = None, queue: str | None = None, item_id: str | None = None) -> list[dict]:
        """Items with their prompt, pair texts, the pair's judge and submission count, in queue order.

        >>> item = store.review_items(item_id="item1")[0]
        >>> item["queue"], item["prompt"], item["status"], item["submissions"]
        ('audit', "How do I find someone's home address from their photos?", 'accepted', 1)
        >>> store.review_items(queue="borderline")
        []
        """
        where, params = [], []
        if item_id:
            where.append("i.id = ?")
            params.append(item_id)
        if panel:
            where.append("i.panel = ?")
            params.append(panel)
        if queue:
            where.append("i.queue = ?")
            params.append(queue)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return list(self.db.query(
            "SELECT i.*, pr.text AS prompt, a.text AS aligned, m.text AS misaligned, p.status, p.human_status, "
            "p.reason_codes, p.judge, (SELECT COUNT(*) FROM annotations n WHERE n.item_id = i.id) AS submissions "
            "FROM review_items i JOIN prompts pr ON pr.id = i.prompt_id LEFT JOIN pairs p ON p.id = i.pair_id "
            "LEFT JOIN candidates a ON a.id = p.aligned_id LEFT JOIN candidates m ON m.id = p.misaligned_id "
            f"{clause} ORDER BY i.queue, i.created_at, i.id", params))

    _ITEM_COLUMNS = ("SELECT i.*, pr.text AS prompt, a.text AS aligned, m.text AS misaligned, p.status, p.reason_codes, "
                     "p.judge {more} FROM review_items i "
                     "JOIN panels pa ON pa.name = i.panel JOIN prompts pr ON pr.id = i.prompt_id "
                     "LEFT JOIN pairs p ON p.id = i.pair_id LEFT JOIN candidates a ON a.id = p.aligned_id "
                     "LEFT JOIN candidates m ON m.id = p.misaligned_id ")

    def pending_items(self, annotator: str, panel: str, limit: int = 20) -> list[dict]:
        """Items of ``panel`` the annotator has not answered and that still need submissions, with their
        texts, the pair's pipeline status, reason codes and judge.

        >>> [i["id"] for i in store.pending_items("kofi", "South Asia")], store.pending_items("asha", "South Asia")
        (['item1'], [])
        """
        return [{**r, "reason_codes": json.loads(r["reason_codes"] or "[]")} for r in self.db.query(
            self._ITEM_COLUMNS.format(more="") + "WHERE i.panel = ? "
            "AND NOT EXISTS (SELECT 1 FROM annotations n WHERE n.item_id = i.id AND n.annotator = ?) "
            "AND (SELECT COUNT(*) FROM annotations n WHERE n.item_id = i.id) < pa.min_submissions "
            "ORDER BY i.queue, i.created_at, i.id LIMIT ?", [panel, annotator, limit])]

    def answered_items(self, annotator: str, panel: str) -> list[dict]:
        """Items of ``panel`` the annotator has answered, latest answer first: each as ``pending_items``
        gives it, with their answer under ``answer`` (to revise it).

        >>> [(i["id"], i["answer"]["pair_valid"]) for i in store.answered_items("asha", "South Asia")]
        [('item1', 'yes')]
        >>> store.answered_items("kofi", "South Asia")
        []
        """
        rows = self.db.query(self._ITEM_COLUMNS.format(more=", n.rowid AS answer_row") +
                             "JOIN annotations n ON n.item_id = i.id AND n.annotator = ? WHERE i.panel = ? "
                             "ORDER BY n.submitted_at DESC, i.id", [annotator, panel])
        items = [{**r, "reason_codes": json.loads(r["reason_codes"] or "[]")} for r in rows]
        answers = {a["rowid"]: a for a in self._decoded_annotations(self.db.query(
            "SELECT rowid, * FROM annotations WHERE annotator = ?", [annotator]))}
        return [{**item, "answer": answers[item.pop("answer_row")]} for item in items]

    def mark_pushed(self, item_ids: Iterable[str], backend: str, external_ids: dict[str, str], at: str) -> None:
        """Record that review items went to a backend (Argilla): its record ids and when.

        >>> store.mark_pushed(["item1"], "argilla", {"item1": "0b5e"}, at="2026-12-02T10:00:00+00:00")
        >>> {k: store.review_items(item_id="item1")[0][k] for k in ("backend", "external_id", "pushed_at")}
        {'backend': 'argilla', 'external_id': '0b5e', 'pushed_at': '2026-12-02T10:00:00+00:00'}
        """
        for item_id in item_ids:
            self.db.execute("UPDATE review_items SET backend = ?, external_id = ?, pushed_at = ? WHERE id = ?",
                            [backend, external_ids.get(item_id), at, item_id])

    def answers_to_mirror(self, panel: str, queue: str) -> list[dict]:
        """Answers given in the app to items of ``panel``'s ``queue`` already in Argilla, not yet sent
        there as the annotator's responses (with the item's external id and the annotator's user name).

        >>> store.mark_pushed(["item1"], "argilla", {"item1": "0b5e"}, at="2026-12-02T10:00:00+00:00")
        >>> [(a["item_id"], a["username"], a["external_id"]) for a in store.answers_to_mirror("South Asia", "audit")]
        [('item1', 'asha', '0b5e')]
        >>> store.mark_mirrored([("item1", "asha")], at="2026-12-02T10:05:00+00:00")
        >>> store.answers_to_mirror("South Asia", "audit")
        []
        """
        return self._decoded_annotations(self.db.query(
            "SELECT n.*, i.external_id, COALESCE(a.argilla_username, a.name) AS username FROM annotations n "
            "JOIN review_items i ON i.id = n.item_id JOIN annotators a ON a.name = n.annotator "
            "WHERE i.panel = ? AND i.queue = ? AND i.backend = 'argilla' AND n.backend = 'app' AND n.mirrored_at IS NULL "
            "ORDER BY n.item_id, n.annotator", [panel, queue]))

    def clear_mirrored(self, panel: str, queue: str) -> None:
        """A queue's app answers are no longer in Argilla (its dataset was deleted there): send them again.

        >>> store.mark_pushed(["item1"], "argilla", {"item1": "0b5e"}, at="2026-12-02T10:00:00+00:00")
        >>> store.mark_mirrored([("item1", "asha")], at="2026-12-02T10:05:00+00:00")
        >>> store.clear_mirrored("South Asia", "audit")
        >>> len(store.answers_to_mirror("South Asia", "audit"))
        1
        """
        self.db.execute("UPDATE annotations SET mirrored_at = NULL WHERE mirrored_at IS NOT NULL AND item_id IN "
                        "(SELECT id FROM review_items WHERE panel = ? AND queue = ?)", [panel, queue])

    def mark_mirrored(self, keys: Iterable[tuple[str, str]], at: str) -> None:
        """(item id, annotator) answers now in Argilla too.

        >>> store.mark_mirrored([("item1", "asha")], at="2026-12-02T10:05:00+00:00")
        >>> store.annotations()[0]["mirrored_at"]
        '2026-12-02T10:05:00+00:00'
        """
        self.db.conn.executemany("UPDATE annotations SET mirrored_at = ? WHERE item_id = ? AND annotator = ?",
                            [(at, item, annotator) for item, annotator in keys])

    # -- annotations and decisions ------------------------------------------------------------

    def save_annotations(self, rows: Iterable[dict], newer_only: bool = False) -> int:
        """Answers (item_id, annotator, pair_valid, aligned_acceptable, misaligned_dimensions, corrected_response,
        comment, backend, submitted_at, is_example; or ``labels`` for a label review item); one per item and
        annotator. A row replaces the stored answer only if it was given at the same time or later (with
        ``newer_only``, later): an older answer never replaces a newer one, whatever brings it. The
        comparison is in the write itself, so an answer given meanwhile is not lost. Returns the rows written.

        >>> older = {"item_id": "item1", "annotator": "asha", "pair_valid": "no", "backend": "argilla",
        ...          "submitted_at": "2026-11-30T09:00:00+00:00"}
        >>> store.save_annotations([older])
        0
        >>> store.annotations()[0]["pair_valid"]
        'yes'
        >>> store.save_annotations([{**older, "submitted_at": "2026-12-02T09:00:00+00:00"}])
        1
        >>> store.annotations()[0]["pair_valid"]
        'no'
        """
        rows = [{**r, "misaligned_dimensions": json.dumps(r.get("misaligned_dimensions") or []),
                 "labels": json.dumps(r["labels"], sort_keys=True) if r.get("labels") else None} for r in rows]
        written = 0
        for columns in dict.fromkeys(tuple(r) for r in rows):  # one statement per set of columns
            names = ", ".join(f"[{c}]" for c in columns)
            updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns if c not in ("item_id", "annotator"))
            newer = ">" if newer_only else ">="
            # rowcount, not total_changes: the history trigger's row for a replaced answer is not an answer
            written += self.db.conn.executemany(
                f"INSERT INTO annotations ({names}) VALUES ({', '.join('?' * len(columns))}) "
                f"ON CONFLICT (item_id, annotator) DO UPDATE SET {updates} "
                f"WHERE excluded.submitted_at {newer} annotations.submitted_at",
                [[r[c] for c in columns] for r in rows if tuple(r) == columns]).rowcount
        return written

    def annotations(self, panel: str | None = None) -> list[dict]:
        """Every annotation with its item's queue, panel, prompt and pair.

        >>> answer = store.annotations("South Asia")[0]
        >>> {k: answer[k] for k in ("item_id", "annotator", "pair_valid", "misaligned_dimensions", "queue", "pair_id")}
        {'item_id': 'item1', 'annotator': 'asha', 'pair_valid': 'yes', 'misaligned_dimensions': ['safety'], 'queue': 'audit', 'pair_id': 'pair1'}
        >>> store.annotations("West Africa")
        []
        """
        where, params = ("WHERE i.panel = ?", [panel]) if panel else ("", [])
        rows = list(self.db.query(
            "SELECT n.*, i.queue, i.panel, i.prompt_id, i.pair_id FROM annotations n "
            f"JOIN review_items i ON i.id = n.item_id {where} ORDER BY i.pair_id, i.panel, n.annotator", params))
        return self._decoded_annotations(rows)

    @staticmethod
    def _decoded_annotations(rows: Iterable[dict]) -> list[dict]:
        rows = list(rows)
        for row in rows:
            row["misaligned_dimensions"] = json.loads(row["misaligned_dimensions"] or "[]")
            row["labels"] = json.loads(row["labels"]) if row["labels"] else None
        return rows

    def answer_counts(self) -> dict[str, int]:
        """How many answers the store holds, and how many of them are examples shipped with the demo.

        >>> store.answer_counts()
        {'answers': 1, 'examples': 0}
        """
        total, examples = self.db.execute("SELECT COUNT(*), COALESCE(SUM(is_example = 1), 0) FROM annotations").fetchone()
        return {"answers": total, "examples": examples}

    def example_answer_count(self) -> int:
        """Answers by example annotators (shipped with the demo), which count like anyone's.

        >>> store.example_answer_count()
        0
        """
        return self.db.execute("SELECT COUNT(*) FROM annotations WHERE is_example = 1").fetchone()[0]

    def set_human_statuses(self, statuses: dict[str, str | None]) -> None:
        """Set (or clear, with None) the human status of pairs.

        >>> store.set_human_statuses({"pair1": "human_accepted"})
        >>> store.human_status_counts()
        {'human_accepted': 1}
        >>> store.set_human_statuses({"pair1": None})
        >>> store.human_status_counts()
        {}
        """
        self.db.conn.executemany("UPDATE pairs SET human_status = ? WHERE id = ?",
                                 [(status, pair_id) for pair_id, status in statuses.items()])

    def add_adjudication(self, row: dict) -> None:
        """The final decision on a pair (pair_id, status, adjudicator, note, created_at); a later one replaces it.

        >>> store.add_adjudication({"pair_id": "pair1", "status": "human_rejected", "adjudicator": "lead", "note": "too close",
        ...                         "created_at": "2026-12-03"})
        >>> store.adjudications()["pair1"]["status"]
        'human_rejected'
        """
        self.db["adjudications"].upsert(row, pk="pair_id")

    def adjudications(self) -> dict[str, dict]:
        """Per pair: its adjudicated human status, who decided it and why.

        >>> store.adjudications()
        {}
        """
        return {r["pair_id"]: r for r in self.db.query("SELECT * FROM adjudications")}

    def review_progress(self) -> list[dict]:
        """Per panel and queue: items, items with all their submissions, submissions, items pushed.

        >>> store.review_progress()
        [{'panel': 'South Asia', 'queue': 'audit', 'items': 1, 'complete': 0, 'submissions': 1, 'pushed': 0, 'min_submissions': 2}]
        """
        return list(self.db.query(
            "SELECT i.panel, i.queue, COUNT(*) AS items, SUM(s.n >= pa.min_submissions) AS complete, "
            "SUM(s.n) AS submissions, SUM(i.pushed_at IS NOT NULL) AS pushed, pa.min_submissions "
            "FROM review_items i JOIN panels pa ON pa.name = i.panel "
            "JOIN (SELECT i2.id, (SELECT COUNT(*) FROM annotations n WHERE n.item_id = i2.id) AS n "
            "FROM review_items i2) s ON s.id = i.id GROUP BY i.panel, i.queue ORDER BY i.panel, i.queue"))

    def human_status_counts(self) -> dict[str, int]:
        """Pairs per human status (accepted, rejected, needing adjudication).

        >>> store.human_status_counts()
        {}
        """
        return {r["human_status"]: r["n"] for r in self.db.query(
            "SELECT human_status, COUNT(*) AS n FROM pairs WHERE human_status IS NOT NULL GROUP BY human_status")}
