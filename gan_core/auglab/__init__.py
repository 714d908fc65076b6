"""The augmentation lab: does synthetic data from a GAN help a classifier trained on K real
images per class? ``lab`` (spec, folder, steps), ``classifier`` (the arms' small CNN),
``synthetic`` (sampling the GAN), ``report`` (table and chart), ``background`` (the lab's
process). Sits above ``jobs`` (it uses its process helpers) and below ``cli``."""
