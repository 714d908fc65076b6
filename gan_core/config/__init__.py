"""The training config: one typed ``TrainConfig`` whose fields carry their own description
(``fields``), its rules (``checks``), and the presets."""
from gan_core.config.checks import AUGMENTS, DEVICES, G_NORMS, LOSSES, NAME_PATTERN, NORMS, ConfigError
from gan_core.config.fields import GROUPS, FieldSpec, applies, full_help, run_types_for, spec_of, specs
from gan_core.config.presets import CLASSIC, PRESETS, STUDIO, preset_for
from gan_core.config.train_config import TrainConfig, read_config_values

__all__ = ["AUGMENTS", "CLASSIC", "DEVICES", "G_NORMS", "LOSSES", "NAME_PATTERN", "NORMS", "PRESETS", "STUDIO",
           "GROUPS", "ConfigError", "FieldSpec", "full_help", "TrainConfig", "applies", "preset_for", "read_config_values", "run_types_for",
           "spec_of", "specs"]
