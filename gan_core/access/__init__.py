"""Who may do what in a studio that several people reach.

    identity   identities (OIDC, shared-token user, local, CLI), the operator role, token
               hashing, and the rule for changing what someone else created
    limits     the operator's limits for web visitors
    settings   exposure beyond loopback and a check of the operator's settings
    ownership  who created each run and data set, and the ``*_as`` actions the pages take
               (above ``jobs``; not imported here, so this package stays free of torch)

The command line comes through none of it: whoever can run ``python -m gan_core`` on the
server can already read and write every run folder, so the CLI is the operator.
Settings are environment variables (read on every call): ``GAN_STUDIO_TOKEN`` /
``GAN_STUDIO_TOKEN_HASH``, ``GAN_STUDIO_OPERATOR_TOKEN`` / ``GAN_STUDIO_OPERATOR_TOKEN_HASH``,
``GAN_STUDIO_OPERATORS``, ``GAN_STUDIO_EXPOSE`` and the ``GAN_STUDIO_MAX_*`` limits in
``LIMIT_SETTINGS``. ``python -m gan_core.access hash`` makes a token hash.
"""
from gan_core.access.identity import (
    MIN_TOKEN_CHARS,
    OPERATOR_TOKEN_ENV,
    OPERATOR_TOKEN_HASH_ENV,
    OPERATORS_ENV,
    TOKEN_ENV,
    TOKEN_HASH_ENV,
    AccessError,
    Identity,
    check,
    check_user_name,
    cli_identity,
    hash_token,
    local_identity,
    oidc_identity,
    refusal,
    token_configured,
    token_identity,
    token_matches,
)
from gan_core.access.limits import LIMIT_SETTINGS, Limits, check_limits, limits
from gan_core.access.settings import EXPOSE_ENV, expose_requested, exposed, is_loopback, settings_problem

__all__ = ["EXPOSE_ENV", "LIMIT_SETTINGS", "MIN_TOKEN_CHARS", "OPERATORS_ENV", "OPERATOR_TOKEN_ENV",
           "OPERATOR_TOKEN_HASH_ENV", "TOKEN_ENV", "TOKEN_HASH_ENV", "AccessError", "Identity", "Limits", "check",
           "check_limits", "check_user_name", "cli_identity", "exposed", "expose_requested", "hash_token",
           "is_loopback", "limits", "local_identity", "oidc_identity", "refusal", "settings_problem",
           "token_configured", "token_identity", "token_matches"]
