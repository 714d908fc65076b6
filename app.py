"""GAN Studio: ``streamlit run app.py`` (runs in $GAN_CHECKPOINTS, data sets in $GAN_DATA)."""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ui import auth  # noqa: E402

st.set_page_config(page_title="GAN Studio", page_icon=":material/blur_on:", layout="wide")

studio = [
    st.Page("pages/1_Home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/2_Data.py", title="Data", icon=":material/photo_library:"),
    st.Page("pages/3_Train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/4_Monitor.py", title="Monitor", icon=":material/monitoring:"),
    st.Page("pages/7_Generate.py", title="Generate", icon=":material/auto_awesome:"),
    st.Page("pages/8_Compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/9_Augment.py", title="Augment", icon=":material/science:"),
    st.Page("pages/10_Translate.py", title="Translate", icon=":material/swap_horiz:"),
]
restore = []
if (ROOT / "pages" / "5_Inpaint.py").is_file():
    restore.append(st.Page("pages/5_Inpaint.py", title="Inpaint", icon=":material/healing:"))
if (ROOT / "pages" / "6_Super_resolve.py").is_file():
    restore.append(st.Page("pages/6_Super_resolve.py", title="Super-resolve", icon=":material/zoom_in:"))

# Before sign-in the navigation is hidden and the gate stops the script before any page runs
# (a page run alone, as in tests, passes the same gate in page_setup).
pg = st.navigation({"Studio": studio, **({"Restore": restore} if restore else {})},
                   position="sidebar" if auth.current() else "hidden")
auth.visitor()
pg.run()
