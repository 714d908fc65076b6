"""Run folders: one directory per run (config, status, metrics, samples, checkpoints), readable while it grows."""
