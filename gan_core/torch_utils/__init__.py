"""Small PyTorch helpers shared by the engine: devices, the torchvision guard, module utilities."""
