"""``python -m gan_core.access hash``: read a token, print the value for ``GAN_STUDIO_TOKEN_HASH``."""
from __future__ import annotations

import getpass
import sys

from gan_core.access.identity import MIN_TOKEN_CHARS, hash_token


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
