"""A local Argilla server with no Elasticsearch: argilla-server in its own venv, Redis, a background
worker, and a search engine that answers from the server's SQL database. For a lab's small panels
and for tests; large deployments run Argilla's standard stack, which the same push/pull code uses.
"""
