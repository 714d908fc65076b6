"""Start the studio: ``make app`` (this machine only) or ``make serve`` (your team).

    python -m ui.serve [--port 8600] [--address 127.0.0.1]      loopback, no sign-in
    python -m ui.serve --expose [--port 8600] [--address IP]    every interface (or IP),
                                                                sign-in required

Serving beyond loopback is one explicit setting: ``--expose`` (``make serve``), the same as
``GAN_STUDIO_EXPOSE=1``; an address that is not loopback (``ADDRESS=0.0.0.0``) counts as
exposing too. Exposed, the studio refuses to start unless a sign-in is configured (a token
in ``GAN_STUDIO_TOKEN``/``GAN_STUDIO_TOKEN_HASH`` or an OpenID Connect ``[auth]`` section in
``.streamlit/secrets.toml``), accepts only the host names in ``GAN_STUDIO_ALLOWED_HOSTS``
(default: this machine's names and addresses) and shows visitors no tracebacks. The port
also comes from ``STREAMLIT_SERVER_PORT``, the address from ``STREAMLIT_SERVER_ADDRESS``.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tomllib
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gan_core import access  # noqa: E402

HOSTS_ENV = "GAN_STUDIO_ALLOWED_HOSTS"


class ServeError(Exception):
    """The studio must not start as asked; the message says what to set."""


def oidc_configured(secrets_files: list[Path] | None = None) -> bool:
    """An ``[auth]`` section in a secrets file Streamlit reads (the project's, the user's)."""
    files = secrets_files or [ROOT / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"]
    for path in files:
        try:
            if tomllib.loads(path.read_text()).get("auth"):
                return True
        except (OSError, tomllib.TOMLDecodeError):
            continue
    return False


def default_hosts(address: str) -> list[str]:
    """This machine's names and addresses, the names colleagues are likely to type."""
    names = {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()}
    if address not in ("0.0.0.0", "::", ""):
        names.add(address)
    try:
        names.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None))
    except OSError:
        pass
    return sorted(n for n in names if n)


def plan(port: int | None, address: str | None, expose: bool,
         env: Mapping[str, str] = os.environ, secrets_files: list[Path] | None = None) -> tuple[list[str], dict[str, str], str]:
    """The ``streamlit run`` command, its environment and a line for the operator."""
    expose = expose or access.expose_requested(env)
    address = address or env.get("STREAMLIT_SERVER_ADDRESS") or ("0.0.0.0" if expose else "127.0.0.1")
    expose = expose or access.exposed(address, env)
    child_env = dict(env)
    flags = ["--server.address", address]
    if port is not None:
        flags += ["--server.port", str(port)]
    shown_port = port or env.get("STREAMLIT_SERVER_PORT") or 8501
    if not expose:
        return flags, child_env, f"GAN Studio on http://{address}:{shown_port} (this machine only)"
    problem = access.settings_problem(env)
    if problem:
        raise ServeError(problem)
    ways = (["access token"] if access.token_configured(env) else []) + (["OpenID Connect"] if oidc_configured(secrets_files) else [])
    if not ways:
        raise ServeError(
            f"refusing to serve on {address} without a sign-in. Set {access.TOKEN_ENV} to a long random token "
            f"(e.g. `export {access.TOKEN_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(24))')`, "
            f"or {access.TOKEN_HASH_ENV} from `python -m gan_core.access hash`) or configure an OpenID Connect "
            "provider in .streamlit/secrets.toml [auth]; see 'Serving to your team' in the README")
    hosts = [h.strip() for h in env.get(HOSTS_ENV, "").split(",") if h.strip()] or default_hosts(address)
    for host in hosts:
        flags += ["--server.allowedHosts", host]
    flags += ["--client.showErrorDetails", "none", "--client.toolbarMode", "viewer"]
    child_env[access.EXPOSE_ENV] = "1"
    return flags, child_env, (f"GAN Studio for your team on {address}:{shown_port}; sign-in: {' or '.join(ways)}; "
                              f"host names accepted ({HOSTS_ENV}): {', '.join(hosts)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, help="port (default: STREAMLIT_SERVER_PORT, else 8501)")
    parser.add_argument("--address", help="address to bind (default: 127.0.0.1; 0.0.0.0 with --expose)")
    parser.add_argument("--expose", action="store_true",
                        help=f"serve other machines, with sign-in required (same as {access.EXPOSE_ENV}=1)")
    args = parser.parse_args(argv)
    try:
        flags, env, line = plan(args.port, args.address, args.expose)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(line, file=sys.stderr, flush=True)
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), *flags]
    os.chdir(ROOT)
    os.execve(sys.executable, cmd, env)


if __name__ == "__main__":
    sys.exit(main())
