"""Run types: what the loop trains for each ``--model`` (task, losses, augmentation) and the registry."""
