"""GAN Studio's engine: data sets, models, training, run folders, jobs, metrics, restoration.

Plain PyTorch; never imports Streamlit. Every capability is also a ``python -m gan_core`` command.
"""
__version__ = "0.1.0"
