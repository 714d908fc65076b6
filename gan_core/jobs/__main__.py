"""``python -m gan_core.jobs _run NAME [--resume]``: the trainer child that ``jobs`` starts (internal)."""
import signal
import sys

if __name__ == "__main__":
    # A stop (SIGTERM) may arrive while torch imports, before train() installs its own
    # handler. Remember it instead of dying without a final state.
    _early = [False]
    signal.signal(signal.SIGTERM, lambda signum, frame: _early.__setitem__(0, True))
    if len(sys.argv) >= 2 and sys.argv[1] == "_run":
        from gan_core.jobs import child  # after the handler: this import brings torch

        sys.exit(child.run_child(sys.argv[2:], early_stop=lambda: _early[0]))
    print("usage: python -m gan_core.jobs _run NAME [--resume]  (internal; use `python -m gan_core launch`)", file=sys.stderr)
    sys.exit(2)
