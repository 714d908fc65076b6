"""The networks: image GANs (MLP, DCGAN), the video GAN and the restoration models."""
