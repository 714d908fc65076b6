"""Who is acting: identities, the operator role, the shared tokens that sign visitors in,
and the rule for changing what someone else created.

Identities are plain strings, recorded as ``created_by`` in a run's ``status.json`` and in
a data set's ``import_report.json``:

    alice@example.com   OpenID Connect sign-in (``st.login``): the verified e-mail
    oidc:<sub>          OpenID Connect without an e-mail claim
    alice               a name typed at the shared-token sign-in (not verified: anyone
                        with the token can type it; no '@' or ':', so it never equals the others)
    local:<user>        the visitor of a loopback studio with no sign-in (the operator)
    cli:<user>          the command line (the operator)

Standard library only (no torch): ``ui.serve`` and ``python -m gan_core.access hash`` start in a blink.
"""
from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from typing import Mapping

TOKEN_ENV, TOKEN_HASH_ENV = "GAN_STUDIO_TOKEN", "GAN_STUDIO_TOKEN_HASH"
OPERATOR_TOKEN_ENV, OPERATOR_TOKEN_HASH_ENV = "GAN_STUDIO_OPERATOR_TOKEN", "GAN_STUDIO_OPERATOR_TOKEN_HASH"
OPERATORS_ENV = "GAN_STUDIO_OPERATORS"
MIN_TOKEN_CHARS = 12  # a shared secret typed into a web form: short ones are guessed
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_RESERVED_NAMES = {"local", "cli", "operator", "admin", "root"}


class AccessError(PermissionError):
    """An action this identity may not take, or a limit it would break; the message says
    which rule refused it and who can change that."""


# ---- identities ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Identity:
    id: str  # what is recorded as created_by
    via: str  # "oidc" | "token" | "local" | "cli"
    operator: bool = False


def cli_identity() -> Identity:
    return Identity(f"cli:{_os_user()}", "cli", operator=True)


def local_identity() -> Identity:
    """The visitor of a loopback studio without sign-in: whoever started it, the operator."""
    return Identity(f"local:{_os_user()}", "local", operator=True)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


def oidc_identity(email: str | None, sub: str | None, env: Mapping[str, str] = os.environ,
                  email_verified: bool | None = None) -> Identity:
    """An OpenID Connect user: their e-mail (lower case), else ``oidc:<sub>``; an e-mail the
    provider says is unverified is not used (it could name an operator). An operator when
    that identity is listed in ``GAN_STUDIO_OPERATORS``."""
    email = None if email_verified is False else email
    ident = (email or "").strip().lower() or (f"oidc:{sub}" if sub else "")
    if not ident:
        raise AccessError("the sign-in provider returned neither an e-mail nor a subject; ask the operator to "
                          "request the 'email' scope")
    operators = {o.strip().lower() for o in env.get(OPERATORS_ENV, "").split(",") if o.strip()}
    return Identity(ident, "oidc", operator=ident in operators or (sub or "").lower() in operators)


def check_user_name(name: str) -> str:
    """A token user's name: 1-40 letters, digits, '.', '_' or '-' (no '@' or ':', so it
    never equals an OpenID Connect or local identity)."""
    name = (name or "").strip()
    if not _USER_NAME.match(name) or name.lower() in _RESERVED_NAMES:
        raise AccessError("your name must be 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit"
                          + (f" (and not {name!r})" if name.lower() in _RESERVED_NAMES else ""))
    return name


def token_identity(name: str, token: str, env: Mapping[str, str] = os.environ) -> Identity:
    """Sign in with the shared token (a visitor) or the operator token (an operator)."""
    name = check_user_name(name)
    if _matches(token, env, OPERATOR_TOKEN_ENV, OPERATOR_TOKEN_HASH_ENV):
        return Identity(name, "token", operator=True)
    if _matches(token, env, TOKEN_ENV, TOKEN_HASH_ENV):
        return Identity(name, "token", operator=False)
    raise AccessError("wrong access token")


# ---- tokens -------------------------------------------------------------------------------
_SCRYPT = dict(n=2**14, r=8, p=1)  # 16 MiB, ~0.2 s per check (measured on the 2-core dev box): slows offline guessing of a leaked hash


def hash_token(token: str, salt: bytes | None = None) -> str:
    """``scrypt$<salt hex>$<hash hex>``: what to put in ``GAN_STUDIO_TOKEN_HASH``."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(token.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def token_matches(token: str, stored_hash: str) -> bool:
    try:
        kind, salt, digest = stored_hash.strip().split("$")
        salt_bytes = bytes.fromhex(salt)
    except ValueError:
        return False
    return kind == "scrypt" and hmac.compare_digest(hash_token(token, salt_bytes).split("$")[2], digest)


def _matches(token: str, env: Mapping[str, str], plain_key: str, hash_key: str) -> bool:
    if not token:
        return False
    plain, stored = env.get(plain_key, ""), env.get(hash_key, "")
    if plain:  # compare digests: equal lengths, and no early exit on the first differing byte
        return hmac.compare_digest(hashlib.sha256(token.encode()).digest(), hashlib.sha256(plain.encode()).digest())
    return bool(stored) and token_matches(token, stored)


def token_configured(env: Mapping[str, str] = os.environ) -> bool:
    return any(env.get(k) for k in (TOKEN_ENV, TOKEN_HASH_ENV, OPERATOR_TOKEN_ENV, OPERATOR_TOKEN_HASH_ENV))


# ---- who may change what -------------------------------------------------------------------
def refusal(identity: Identity, owner: str | None, what: str = "run") -> str | None:
    """Why ``identity`` may not change something ``owner`` created, or None when it may."""
    if identity.operator or (owner is not None and owner == identity.id):
        return None
    who = f"was created by {owner}" if owner else "has no recorded creator"
    return f"this {what} {who}; only its creator or an operator can change it"


def check(identity: Identity, owner: str | None, name: str, action: str, what: str = "run") -> None:
    why = refusal(identity, owner, what)
    if why:
        raise AccessError(f"you ({identity.id}) cannot {action} {what} {name}: {why}")
