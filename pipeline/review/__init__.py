"""Human review: panels, annotators, queues, answers, agreement, and the Argilla sync with its local server.

May import: ``pipeline.text``, ``review_store``, ``taxonomy``, and the labelling figures
(``pipeline.labelling.figures``, ``pipeline.stages.label_agreement``: how labels are scored, the same
for people's corrections as for every report); never an engine."""
