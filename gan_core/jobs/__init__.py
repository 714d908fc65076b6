"""Background training jobs: launch, queue, stop, resume and watch runs outside the app.

Kept import-free: ``python -m gan_core.jobs`` (the trainer child) imports this package
before its ``__main__`` installs the early SIGTERM handler. Use ``gan_core.jobs.manager``.
"""
