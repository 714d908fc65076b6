"""GAN Studio's engine: data sets, models, run types, training, run folders, jobs, metrics, restoration.

Plain PyTorch; never imports Streamlit. Every capability is also a ``python -m gan_core`` command.
Subpackages, low to high (each imports only those below it; tests/test_architecture.py checks):
torch_utils, data, models, runtypes, config, runs, inference, metrics and video, training,
restore, jobs, cli. Kept import-free so that ``python -m gan_core.jobs`` starts light.
"""
__version__ = "0.1.0"
