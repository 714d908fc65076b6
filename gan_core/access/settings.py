"""The operator's settings for a served studio: whether it is exposed beyond this machine,
and what is wrong with the sign-in and limit settings (checked before ``ui.serve`` starts).
Read from the environment on every call, so tests and a restarted server see changes.
"""
from __future__ import annotations

import os
import re
from typing import Mapping

from gan_core.access.identity import (OPERATOR_TOKEN_ENV, OPERATOR_TOKEN_HASH_ENV, TOKEN_ENV, TOKEN_HASH_ENV,
                                      MIN_TOKEN_CHARS, AccessError)
from gan_core.access.limits import limits

EXPOSE_ENV = "GAN_STUDIO_EXPOSE"


def settings_problem(env: Mapping[str, str] = os.environ) -> str | None:
    """What is wrong with the operator's access settings, or None. Never quotes a token."""
    for plain, hashed in ((TOKEN_ENV, TOKEN_HASH_ENV), (OPERATOR_TOKEN_ENV, OPERATOR_TOKEN_HASH_ENV)):
        if env.get(plain) and len(env[plain]) < MIN_TOKEN_CHARS:
            return (f"{plain} is shorter than {MIN_TOKEN_CHARS} characters; use a long random one, e.g. "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`")
        if env.get(hashed) and not re.fullmatch(r"scrypt\$[0-9a-f]{32}\$[0-9a-f]{64}", env[hashed].strip()):
            return f"{hashed} is not a hash made by `python -m gan_core.access hash`"
    if env.get(TOKEN_ENV) and env.get(TOKEN_ENV) == env.get(OPERATOR_TOKEN_ENV):
        return f"{TOKEN_ENV} and {OPERATOR_TOKEN_ENV} are the same: every visitor would be an operator"
    try:
        limits(env)
    except AccessError as exc:
        return str(exc)
    return None


# ---- exposure -----------------------------------------------------------------------------
def is_loopback(address: str | None) -> bool:
    """Does a server bound to ``address`` listen on the loopback interface only? Streamlit
    binds every interface when no address is set."""
    address = (address or "").strip().strip("[]").lower()
    return address == "localhost" or address == "::1" or address.startswith("127.")


def expose_requested(env: Mapping[str, str] = os.environ) -> bool:
    return env.get(EXPOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def exposed(address: str | None, env: Mapping[str, str] = os.environ) -> bool:
    """Served to other machines: bound beyond loopback, or marked so (``GAN_STUDIO_EXPOSE=1``,
    e.g. behind a reverse proxy on the same machine)."""
    return expose_requested(env) or not is_loopback(address)
