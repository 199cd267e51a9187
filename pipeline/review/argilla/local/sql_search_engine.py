"""A search engine for argilla-server that answers from the server's own SQL database.

Argilla normally indexes records in Elasticsearch or OpenSearch. For a lab's small panels (and for
tests) this engine reads records, responses, suggestions and metadata straight from the server's
SQLite database, which the server commits to before it calls any engine: the index-maintenance
methods have nothing to do. Loaded inside argilla-server's own venv (it imports only
argilla_server and SQLAlchemy), in the web process and in the background worker; selected with
``ARGILLA_SEARCH_ENGINE=misalign-sql``. Large deployments use Argilla's standard stack instead.
"""

from __future__ import annotations

from typing import List, Optional, Union

from argilla_server.database import AsyncSessionLocal
from argilla_server.models import Question, Record, Response, Suggestion
from argilla_server.search_engine.base import (
    AndFilter,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataFilterScope,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    SuggestionFilterScope,
    TermsFilter,
    TermsMetrics,
    TextQuery,
)
from sqlalchemy import String, and_, cast, exists, func, or_, select, true

ENGINE_NAME = "misalign-sql"


def _metadata(name: str):
    return func.json_extract(Record.metadata_, f'$."{name}"')


def _response_exists(scope: ResponseFilterScope, *conditions):
    who = Response.user_id == scope.user.id if scope.user else true()
    return exists(select(Response.id).where(Response.record_id == Record.id, who, *conditions))


def _suggestion_column(scope: SuggestionFilterScope):
    return {"agent": Suggestion.agent, "score": func.json_extract(Suggestion.score, "$"),
            "type": Suggestion.type}.get(scope.property, func.json_extract(Suggestion.value, "$"))


def _suggestion_exists(scope: SuggestionFilterScope, condition):
    return exists(select(Suggestion.id).join(Question, Question.id == Suggestion.question_id).where(
        Suggestion.record_id == Record.id, Question.name == scope.question, condition))


def _terms(scope, values: list):
    if isinstance(scope, RecordFilterScope):
        return getattr(Record, scope.property).in_(values)
    if isinstance(scope, MetadataFilterScope):
        return _metadata(scope.metadata_property).in_(values)
    if isinstance(scope, SuggestionFilterScope):
        return _suggestion_exists(scope, _suggestion_column(scope).in_(values))
    if scope.question:  # a response's answer to one question
        value = func.json_extract(Response.values, f'$."{scope.question}".value')
        return _response_exists(scope, value.in_(values))
    statuses = [str(v) for v in values if str(v) != "pending"]
    parts = [_response_exists(scope, cast(Response.status, String).in_(statuses))] if statuses else []
    if len(statuses) < len(values):  # pending: no response (by this user) yet
        parts.append(~_response_exists(scope))
    return or_(*parts)


def _range(scope, ge, le):
    if isinstance(scope, MetadataFilterScope):
        column = _metadata(scope.metadata_property)
    elif isinstance(scope, RecordFilterScope):
        column = getattr(Record, scope.property)
    elif isinstance(scope, SuggestionFilterScope):
        column = _suggestion_column(scope)
    else:
        column = func.json_extract(Response.values, f'$."{scope.question}".value')
    bounds = [c for c in (column >= ge if ge is not None else None, column <= le if le is not None else None)
              if c is not None]
    if isinstance(scope, SuggestionFilterScope):
        return _suggestion_exists(scope, and_(*bounds))
    if isinstance(scope, ResponseFilterScope):
        return _response_exists(scope, *bounds)
    return and_(*bounds)


def _condition(filter):
    if isinstance(filter, AndFilter):
        return and_(*(_condition(f) for f in filter.filters))
    if isinstance(filter, TermsFilter):
        return _terms(filter.scope, list(filter.values))
    if isinstance(filter, RangeFilter):
        return _range(filter.scope, filter.ge, filter.le)
    raise ValueError(f"unsupported filter {type(filter).__name__}")


def _order(order):
    scope = order.scope
    if isinstance(scope, MetadataFilterScope):
        column = _metadata(scope.metadata_property)
    elif isinstance(scope, RecordFilterScope):
        column = getattr(Record, scope.property)
    else:
        return None
    return column.desc() if str(getattr(order.order, "value", order.order)) == "desc" else column.asc()


def _counts(rows) -> dict:
    counts = {str(getattr(status, "value", status)): n for status, n in rows}
    return {"total": sum(counts.values()), **counts}


@SearchEngine.register(engine_name=ENGINE_NAME)
class SQLSearchEngine(SearchEngine):
    @classmethod
    async def new_instance(cls) -> "SQLSearchEngine":
        return cls()

    async def close(self):
        pass

    async def ping(self) -> bool:
        return True

    async def info(self) -> dict:
        return {"distribution": ENGINE_NAME, "version": "1"}

    # the server writes its database before calling these: there is no separate index to keep
    async def create_index(self, dataset): pass
    async def delete_index(self, dataset): pass
    async def configure_metadata_property(self, dataset, metadata_property): pass
    async def index_records(self, dataset, records): pass
    async def partial_record_update(self, record, **update): pass
    async def delete_records(self, dataset, records): pass
    async def update_record_response(self, response): pass
    async def delete_record_response(self, response): pass
    async def update_record_suggestion(self, suggestion): pass
    async def delete_record_suggestion(self, suggestion): pass
    async def configure_index_vectors(self, vector_settings): pass

    async def get_dataset_progress(self, dataset) -> dict:
        if dataset.is_draft:
            return {}
        async with AsyncSessionLocal() as db:
            rows = (await db.execute(select(Record.status, func.count()).where(Record.dataset_id == dataset.id)
                                     .group_by(Record.status))).all()
        return _counts(rows)

    async def get_dataset_user_progress(self, dataset, user) -> dict:
        if dataset.is_draft:
            return {}
        async with AsyncSessionLocal() as db:
            rows = (await db.execute(
                select(Response.status, func.count()).join(Record, Record.id == Response.record_id)
                .where(Record.dataset_id == dataset.id, Response.user_id == user.id).group_by(Response.status))).all()
        return _counts(rows)

    async def search(self, dataset, query: Optional[Union[TextQuery, str]] = None, filter=None,
                     sort: Optional[List] = None, offset: int = 0, limit: int = 100, user_id=None) -> SearchResponses:
        conditions = [Record.dataset_id == dataset.id]
        if query:
            text = query if isinstance(query, str) else query.q
            field = None if isinstance(query, str) else query.field
            target = func.json_extract(Record.fields, f'$."{field}"') if field else cast(Record.fields, String)
            conditions.append(target.ilike(f"%{text}%"))
        if filter:
            conditions.append(_condition(filter))
        orders = [o for o in (_order(s) for s in sort or []) if o is not None] or [Record.inserted_at.asc()]
        async with AsyncSessionLocal() as db:
            total = (await db.execute(select(func.count()).select_from(Record).where(*conditions))).scalar_one()
            ids = (await db.execute(select(Record.id).where(*conditions).order_by(*orders, Record.id)
                                    .offset(offset).limit(limit))).scalars().all()
        return SearchResponses(items=[SearchResponseItem(record_id=i, score=None) for i in ids], total=total)

    async def compute_metrics_for(self, metadata_property):
        value = _metadata(metadata_property.name)
        where = Record.dataset_id == metadata_property.dataset_id
        async with AsyncSessionLocal() as db:
            if str(getattr(metadata_property.type, "value", metadata_property.type)) == "terms":
                rows = (await db.execute(select(value, func.count()).where(where, value.is_not(None))
                                         .group_by(value))).all()
                return TermsMetrics(total=sum(n for _, n in rows),
                                    values=[TermsMetrics.TermCount(term=str(v), count=n) for v, n in rows])
            low, high = (await db.execute(select(func.min(value), func.max(value)).where(where))).one()
        kind = IntegerMetadataMetrics if str(getattr(metadata_property.type, "value", "")) == "integer" else \
            FloatMetadataMetrics
        return kind(min=low, max=high)

    async def similarity_search(self, dataset, vector_settings, value=None, record=None, query=None, filter=None,
                                max_results: int = 100, order=None, threshold=None) -> SearchResponses:
        return SearchResponses(items=[], total=0)  # no vectors are pushed by misalign
