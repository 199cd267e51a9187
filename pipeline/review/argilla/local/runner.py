"""Runs inside argilla-server's venv: ``runner.py web HOST PORT`` or ``runner.py worker``.

Both import the SQL search engine first, so the server and its background worker find it.
"""

import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
importlib.import_module("sql_search_engine")  # registers the engine before the app or a job runs


def main() -> None:
    """Run the web server (``web HOST PORT``) or the background worker (``worker``)."""
    mode = sys.argv[1]
    if mode == "web":
        import uvicorn

        uvicorn.run("argilla_server:app", host=sys.argv[2], port=int(sys.argv[3]), log_level="warning")
    elif mode == "worker":
        from argilla_server.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, REDIS_CONNECTION
        from rq import Worker

        # one worker that forks per job: the job process inherits the engine imported above
        Worker([HIGH_QUEUE, DEFAULT_QUEUE], connection=REDIS_CONNECTION).work(with_scheduler=False)
    else:
        raise SystemExit(f"unknown mode {mode!r}: web or worker")


if __name__ == "__main__":
    main()
