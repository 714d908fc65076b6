"""Data sets: built-ins, imported sets, folders and zips of images, clip sets, and inpainting masks."""
