"""Shared Streamlit widgets for the GAN Studio pages (the app layer; gan_core never imports it)."""
