"""Using a trained generator: load it from a run or file, sample images, export a synthetic set."""
