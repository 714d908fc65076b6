"""Every ``python -m gan_core`` command and its argparse parser (the top of the engine)."""
from gan_core.cli.main import COMMANDS, main

__all__ = ["COMMANDS", "main"]
