"""``streamlit`` with the studio's own navigation from the first request: ``python -m pipeline.app.launch
run app.py …`` takes the same arguments as ``streamlit``.

Streamlit treats an app with a ``pages/`` folder as an old-style multipage app until the entry
script calls ``st.navigation``; a first visit straight to ``/Domains`` would then never run
``app.py`` and show the folder's pages instead (the overview named "app"). Saying up front that
the app defines its own navigation avoids that.
"""

import sys

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

if __name__ == "__main__":
    PagesManager.uses_pages_directory = False  # app.py calls st.navigation itself
    sys.exit(cli.main())
