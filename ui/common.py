"""Page setup, navigation helpers and small widgets shared by every page.

Every page calls ``page_setup()`` first, so a page file works both inside ``app.py``'s
navigation and alone (``AppTest.from_file("pages/3_Train.py")``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gan_core.access import Identity  # noqa: E402
from gan_core.data.importer import data_root  # noqa: E402
from gan_core.runs.rundir import RunDir, RunError, checkpoints_root, list_runs  # noqa: E402
from ui import auth  # noqa: E402
from ui.status import state_badge  # noqa: E402

PAGES = {
    "home": "pages/1_Home.py",
    "data": "pages/2_Data.py",
    "train": "pages/3_Train.py",
    "monitor": "pages/4_Monitor.py",
    "generate": "pages/7_Generate.py",
    "compare": "pages/8_Compare.py",
    "augment": "pages/9_Augment.py",
    "translate": "pages/10_Translate.py",
}

_CSS = """
<style>
  .block-container {padding-top: 2.2rem; padding-bottom: 3rem; max-width: 1400px;}
  [data-testid="stMetricValue"] {font-size: 1.55rem;}
  [data-testid="stSidebarNav"] a span {font-size: 0.95rem;}
  .studio-lede {font-size: 1.06rem; color: #4B4863; line-height: 1.6; margin-bottom: .4rem;}
  .studio-badge {display: inline-block; padding: .12rem .6rem; border-radius: 999px;
                 font-size: .85rem; font-weight: 600; background: #EEF0FF; color: #3730A3;}
  .studio-green {background: #DCFCE7; color: #166534;}
  .studio-red {background: #FEE2E2; color: #991B1B;}
  .studio-orange {background: #FFEDD5; color: #9A3412;}
  .studio-blue {background: #DBEAFE; color: #1E40AF;}
  .studio-gray {background: #F1F5F9; color: #475569;}
  .studio-caption {color: #6B6883; font-size: .85rem;}
  .studio-stats {display: flex; gap: 1.6rem; flex-wrap: wrap; align-items: baseline;}
  .studio-stats b {display: block; font-size: 1.45rem; font-weight: 600; color: #1E1B2E; line-height: 1.3;}
  .studio-stats span {color: #6B6883; font-size: .85rem;}
  .studio-bar {height: .45rem; background: #EEF0FF; border-radius: 999px; margin-top: .45rem; overflow: hidden;}
  .studio-bar div {height: 100%; background: #4F46E5; border-radius: 999px;}
  div[data-testid="stImageCaption"] {font-family: ui-monospace, monospace; font-size: .75rem;}
</style>
"""


def _leave_pages_folder_mode() -> None:
    """Streamlit serves a fresh server in its old pages/-folder mode until some session has
    run app.py's ``st.navigation`` once: a first visit straight to /Monitor would run the page
    alone, with a sidebar listing every file in pages/. Switch that mode off (Streamlit's own
    ``st.navigation`` does the same) and run again, through app.py, on the same page."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without it has no such mode
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def page_setup(title: str | None = None) -> Identity:
    """Page config (wide layout), the theme's small CSS touches, the sign-in gate and the
    sidebar footer. Returns who the visitor is (the page stops here until someone is)."""
    _leave_pages_folder_mode()
    try:
        st.set_page_config(page_title=f"{title} · GAN Studio" if title else "GAN Studio",
                           page_icon=":material/blur_on:", layout="wide")
    except st.errors.StreamlitAPIException:
        pass
    st.markdown(_CSS, unsafe_allow_html=True)
    identity = auth.visitor()
    with st.sidebar:
        auth.sidebar(identity)
        if not identity.operator:  # server paths are the operator's business
            return identity
        st.caption(f"Runs in `{_short(checkpoints_root())}`  \nData sets in `{_short(data_root())}`",
                   help=f"GAN_CHECKPOINTS = {checkpoints_root()}  \nGAN_DATA = {data_root()}  \n"
                        "The same folders the command line uses.")
    return identity


def where(identity: Identity, path: Path, label: str) -> str:
    """A server folder as a page shows it: the path to an operator, ``label`` (in words, e.g.
    "the studio's data folder") to a visitor of a served studio, who has no use for the layout
    of the server's disk."""
    return f"`{path}`" if identity.operator else label


def _short(path: Path, limit: int = 28) -> str:
    text = str(path)
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def go(page: str, **state) -> None:
    """Switch to another page (keys of ``PAGES``), carrying values in session state.
    When the page can't be switched to (a page run alone, as in tests), show a link."""
    for key, value in state.items():
        st.session_state[key] = value
    target = PAGES[page]
    try:
        st.switch_page(target)
    except Exception:  # noqa: BLE001 - StreamlitAPIException when run outside app.py
        st.success(f"Done — open the **{page.title()}** page to continue.")


def page_link(page: str, label: str, icon: str | None = None) -> None:
    try:
        st.page_link(PAGES[page], label=label, icon=icon)
    except Exception:  # noqa: BLE001 - page files alone (tests) have no navigation
        st.markdown(f"→ {label}")


def runs_safe() -> list[RunDir]:
    try:
        return list_runs()
    except OSError:
        return []


def open_run(name: str) -> RunDir | None:
    try:
        return RunDir.open(name)
    except RunError:
        return None


def badge(state: str) -> str:
    return state_badge(state)


def env_refresh_s(default: float = 2.0, variable: str = "GAN_STUDIO_REFRESH_S") -> float:
    """Seconds from an environment variable (at least 0.2), or ``default`` if unset or not a number."""
    try:
        return max(0.2, float(os.environ.get(variable, default)))
    except ValueError:
        return default
