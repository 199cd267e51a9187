"""misalign studio: the pages and their order in the sidebar. Run with ``misalign app``.

Each page is a script in ``pages/`` that runs on its own too (tests open them one by one).
"""

import streamlit as st

PAGES = [("0_Overview", "Overview"), ("1_Domains", "Domains"), ("2_Trade-offs", "Trade-offs"),
         ("3_Agreement", "Agreement"), ("4_Review", "Review"), ("5_Export", "Export"), ("6_Runs", "Runs")]

st.navigation([st.Page(f"pages/{script}.py", title=title, url_path="" if title == "Overview" else title,
                       default=title == "Overview") for script, title in PAGES]).run()
