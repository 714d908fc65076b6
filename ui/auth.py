"""The sign-in gate every page passes through (``page_setup`` calls ``visitor()``).

A loopback-only studio with no sign-in configured has one visitor, the local operator, and
shows no form. Otherwise nothing of a page is drawn until the visitor has signed in: with
the operator's shared access token (and a name they choose) or through Streamlit's OpenID
Connect sign-in (``st.login``) when ``.streamlit/secrets.toml`` has an ``[auth]`` section.
A studio served beyond loopback with neither configured shows only what the operator must
set. The rules themselves (who is an operator, whose runs one may change) are in
``gan_core.access``.
"""
from __future__ import annotations

import time
from collections import defaultdict, deque

import streamlit as st

from gan_core import access
from gan_core.access import AccessError, Identity

SESSION_KEY = "_studio_visitor"
_GUESSES = 5  # wrong tokens from one address within _GUESS_WINDOW_S before it must wait
_GUESS_WINDOW_S = 60.0
_WRONG_TOKEN_DELAY_S = 1.0
_failures: dict[str, deque] = defaultdict(deque)  # client address -> times of wrong tokens (this server process)


def oidc_providers() -> list[str | None]:
    """The providers in secrets' ``[auth]``: ``[None]`` for one unnamed provider, else the
    names of its ``[auth.<name>]`` tables; empty when there is no ``[auth]``."""
    try:
        auth = st.secrets.get("auth")
    except Exception:  # noqa: BLE001 - StreamlitSecretNotFoundError etc.: no secrets file, no OIDC
        return []
    if not auth:
        return []
    if "client_id" in auth or "server_metadata_url" in auth:
        return [None]
    return [name for name, value in auth.items() if hasattr(value, "keys")]


def current() -> Identity | None:
    """The visitor, drawing nothing: None until someone has signed in (or while the
    operator's settings let nobody in)."""
    if access.settings_problem():
        return None
    providers = oidc_providers()
    if not (providers or access.token_configured()):
        return None if access.exposed(st.get_option("server.address")) else access.local_identity()
    signed_in = st.session_state.get(SESSION_KEY)
    if isinstance(signed_in, Identity):
        return signed_in
    if providers and st.user.get("is_logged_in"):
        try:
            return access.oidc_identity(st.user.get("email"), st.user.get("sub"), email_verified=st.user.get("email_verified"))
        except AccessError:
            return None
    return None


def visitor() -> Identity:
    """Who this session is. Draws the sign-in (and stops the page) until there is someone."""
    if access.exposed(st.get_option("server.address")) and st.get_option("client.showErrorDetails") != "none":
        # tracebacks name server paths; `make serve` sets this at start, this covers a bare `streamlit run`
        st.set_option("client.showErrorDetails", "none")
    identity = current()
    if identity is not None:
        return identity
    problem = access.settings_problem()
    providers, token = oidc_providers(), access.token_configured()
    if problem:
        st.error(f"**The studio's access settings need fixing by its operator:** {problem}.", icon=":material/lock:")
    elif not (providers or token):
        st.error("**This studio is served to other machines but has no sign-in set up, so it shows nothing.** "
                 f"Its operator must set `{access.TOKEN_ENV}` (a shared access token) or an OpenID Connect "
                 "provider in `.streamlit/secrets.toml` `[auth]`; see *Serving to your team* in the README.",
                 icon=":material/lock:")
    else:
        if providers and st.user.get("is_logged_in"):  # signed in, but the provider gave no usable identity
            try:
                access.oidc_identity(st.user.get("email"), st.user.get("sub"), email_verified=st.user.get("email_verified"))
            except AccessError as exc:
                st.error(str(exc))
        sign_in_page(token, providers)
    st.stop()


def sign_in_page(token: bool, providers: list[str | None]) -> None:
    """The sign-in form (a narrow column: two fields do not need the wide layout)."""
    with st.columns([1, 1.3])[0]:
        st.title("Sign in to GAN Studio")
        st.caption("This studio is shared: sign in so your runs and data sets carry your name, "
                   "and only you (or an operator) can stop, resume or delete them.")
        if providers:
            for provider in providers:
                label = f"Sign in with {provider}" if provider else "Sign in with your organisation's account"
                if st.button(label, icon=":material/login:", key=f"login_{provider or 'default'}", type="primary"):
                    if provider:
                        st.login(provider)
                    else:
                        st.login()
        if token:
            if providers:
                st.markdown("or with the studio's access token:")
            with st.form("sign_in", clear_on_submit=True):
                name = st.text_input("Your name", key="sign_in_name", max_chars=40,
                                     help="Letters, digits, '.', '_' or '-'. Shown on what you create.")
                secret = st.text_input("Access token", type="password", key="sign_in_token", max_chars=200,
                                       help="The studio's operator gives it out.")
                submitted = st.form_submit_button("Sign in", icon=":material/key:")
            if submitted:
                _try_token(name, secret)


def _client() -> str:
    try:
        return st.context.ip_address or "?"
    except Exception:  # noqa: BLE001 - older Streamlit, or no request (tests)
        return "?"


def _try_token(name: str, secret: str) -> None:
    client, now = _client(), time.monotonic()
    for address in [a for a, times in _failures.items() if not times or now - times[-1] > _GUESS_WINDOW_S]:
        del _failures[address]  # forget quiet addresses: many guessers cost no lasting memory
    recent = _failures[client]
    while recent and now - recent[0] > _GUESS_WINDOW_S:
        recent.popleft()
    if len(recent) >= _GUESSES:
        st.error(f"Too many wrong tokens from your address; wait {_GUESS_WINDOW_S - (now - recent[0]):.0f} s.")
        return
    try:
        identity = access.token_identity(name, secret)
    except AccessError as exc:
        if str(exc) == "wrong access token":
            recent.append(now)
            time.sleep(_WRONG_TOKEN_DELAY_S)  # this session only; the window above bounds the rest
        st.error(f"Not signed in: {exc}.", icon=":material/block:")
        return
    st.session_state[SESSION_KEY] = identity
    st.rerun()


def sidebar(identity: Identity) -> None:
    """Who is signed in, and a way out (nothing for the local operator: there is no sign-in)."""
    if identity.via == "local":
        return
    st.caption(f":material/person: **{identity.id}**" + (" · operator" if identity.operator else ""),
               help="Operators can stop, resume and delete everyone's runs and data sets, and have no limits.")
    if st.button("Sign out", icon=":material/logout:", key="sign_out", type="tertiary"):
        st.session_state.pop(SESSION_KEY, None)
        if identity.via == "oidc":
            st.logout()
        st.rerun()


def refusal_note(identity: Identity, owner: str | None, what: str = "run") -> str | None:
    """The tooltip for a control this visitor may not use on someone else's run or set."""
    why = access.refusal(identity, owner, what)
    return f"Not yours: {why}." if why else None
