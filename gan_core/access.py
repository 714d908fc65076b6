"""Who may do what in a studio that several people reach: identities, roles, the rule for
changing what someone else created, and the operator's limits for web visitors.

Only settings and rules live here (no torch: the launcher and ``hash`` start in a blink);
``gan_core.ownership`` applies them to runs and data sets. The command line does not come
through either: whoever can run ``python -m gan_core`` on the server can already read and
write every run folder, so the CLI is the operator.

Identities are plain strings, recorded as ``created_by`` in a run's ``status.json`` and in
a data set's ``import_report.json``:

    alice@example.com   OpenID Connect sign-in (``st.login``): the verified e-mail
    oidc:<sub>          OpenID Connect without an e-mail claim
    alice               a name typed at the shared-token sign-in (not verified: anyone
                        with the token can type it; no '@' or ':', so it never equals the others)
    local:<user>        the visitor of a loopback studio with no sign-in (the operator)
    cli:<user>          the command line (the operator)

Settings (environment; read on every call, so tests and a restarted server see changes):
``GAN_STUDIO_TOKEN`` / ``GAN_STUDIO_TOKEN_HASH``, ``GAN_STUDIO_OPERATOR_TOKEN`` /
``GAN_STUDIO_OPERATOR_TOKEN_HASH``, ``GAN_STUDIO_OPERATORS`` and the ``GAN_STUDIO_MAX_*``
limits in ``LIMIT_SETTINGS``. ``python -m gan_core.access hash`` makes a token hash.
"""
from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import re
import secrets
import sys
from dataclasses import dataclass
from typing import Mapping

from .config import TrainConfig

EXPOSE_ENV = "GAN_STUDIO_EXPOSE"
TOKEN_ENV, TOKEN_HASH_ENV = "GAN_STUDIO_TOKEN", "GAN_STUDIO_TOKEN_HASH"
OPERATOR_TOKEN_ENV, OPERATOR_TOKEN_HASH_ENV = "GAN_STUDIO_OPERATOR_TOKEN", "GAN_STUDIO_OPERATOR_TOKEN_HASH"
OPERATORS_ENV = "GAN_STUDIO_OPERATORS"
MIN_TOKEN_CHARS = 12  # a shared secret typed into a web form: short ones are guessed
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_RESERVED_NAMES = {"local", "cli", "operator", "admin", "root"}

# limit -> (environment variable, default for web visitors, what it bounds)
LIMIT_SETTINGS: dict[str, tuple[str, float, str]] = {
    "runs": ("GAN_STUDIO_MAX_RUNS_PER_PERSON", 2, "runs queued or running at once per person"),
    "minutes": ("GAN_STUDIO_MAX_MINUTES", 120, "minutes of training per run"),
    "steps": ("GAN_STUDIO_MAX_STEPS", 100_000, "steps per run (when no minutes budget is set)"),
    "width": ("GAN_STUDIO_MAX_WIDTH", 128, "model width (base channels)"),
    "resolution": ("GAN_STUDIO_MAX_RESOLUTION", 128, "image resolution in pixels"),
    "batch_size": ("GAN_STUDIO_MAX_BATCH", 256, "batch size"),
}


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


# ---- limits -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    runs: float | None
    minutes: float | None
    steps: float | None
    width: float | None
    resolution: float | None
    batch_size: float | None


def limits(env: Mapping[str, str] = os.environ) -> Limits:
    """The operator's limits for web visitors; ``none`` switches one off."""
    values: dict[str, float | None] = {}
    for key, (var, default, what) in LIMIT_SETTINGS.items():
        raw = env.get(var, "").strip().lower()
        if raw in ("none", "off", "unlimited"):
            values[key] = None
            continue
        try:
            value = float(raw) if raw else float(default)
        except ValueError:
            value = -1.0
        if value <= 0:
            raise AccessError(f"{var} must be a positive number or 'none', got {raw!r}")
        values[key] = value
    return Limits(**values)


def _over(key: str, value: float, limit: float | None) -> str | None:
    if limit is None or value <= limit:
        return None
    var, _, what = LIMIT_SETTINGS[key]
    return (f"{value:g} is over this studio's limit of {limit:g} {what} for web visitors; "
            f"the operator can change it with {var}")


def check_limits(identity: Identity, cfg: TrainConfig, env: Mapping[str, str] = os.environ) -> None:
    """Refuse a config over the operator's limits (operators have none)."""
    if identity.operator:
        return
    lim = limits(env)
    budget = ("minutes", cfg.minutes, lim.minutes) if cfg.minutes else ("steps", cfg.steps, lim.steps)
    for key, value, limit in (budget, ("width", cfg.width, lim.width), ("resolution", cfg.resolution, lim.resolution),
                              ("batch_size", cfg.batch_size, lim.batch_size)):
        why = _over(key, float(value), limit)
        if why:
            raise AccessError(f"{key.replace('_', ' ')} {why}")


# ---- python -m gan_core.access hash --------------------------------------------------------
def main(argv: list[str]) -> int:
    if argv[:1] != ["hash"]:
        print("usage: python -m gan_core.access hash   (reads a token from stdin, prints GAN_STUDIO_TOKEN_HASH)",
              file=sys.stderr)
        return 2
    token = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass("token: ")
    if len(token) < MIN_TOKEN_CHARS:
        print(f"error: use at least {MIN_TOKEN_CHARS} characters", file=sys.stderr)
        return 2
    print(hash_token(token))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
