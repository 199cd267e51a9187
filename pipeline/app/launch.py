"""``streamlit`` with the studio's own navigation from the first request: ``python -m pipeline.app.launch
run app.py …`` takes the same arguments as ``streamlit``.

Streamlit treats an app with a ``pages/`` folder as an old-style multipage app until the entry
script calls ``st.navigation``; a first visit straight to ``/Domains`` would then never run
``app.py`` and show the folder's pages instead (the overview named "app"). Saying up front that
the app defines its own navigation avoids that.

The modules every page needs (pandas, altair, scikit-learn behind the export and agreement code)
are imported before the server listens, so the first visitor does not wait a second for them.
"""

import sys

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

if __name__ == "__main__":
    import altair  # noqa: F401  (loaded once here, not on the first visit)

    import pipeline.app.charts  # noqa: F401
    import pipeline.app.pair_card  # noqa: F401
    import pipeline.app.shared  # noqa: F401
    import pipeline.bench.report  # noqa: F401

    PagesManager.uses_pages_directory = False  # app.py calls st.navigation itself
    sys.exit(cli.main())
