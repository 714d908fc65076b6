"""The training config: one typed ``TrainConfig``, validated at the edge, and the presets."""
from .presets import CLASSIC, PRESETS, STUDIO, preset_for
from .train_config import (
                           AUGMENTS,
                           DEVICES,
                           G_NORMS,
                           IMAGE_GAN_MODELS,
                           LOSSES,
                           MODELS,
                           NAME_PATTERN,
                           NORMS,
                           ConfigError,
                           TrainConfig,
                           read_config_values,
)

__all__ = ["AUGMENTS", "CLASSIC", "DEVICES", "G_NORMS", "IMAGE_GAN_MODELS", "LOSSES", "MODELS", "NAME_PATTERN", "NORMS",
           "PRESETS", "STUDIO", "ConfigError", "TrainConfig", "preset_for", "read_config_values"]
