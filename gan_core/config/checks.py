"""The config's rules: each field's own (from its ``FieldSpec``: type, choices, range), then the
rules between fields and those of the run type. ``problems_of`` gathers every problem at once;
``TrainConfig.validate`` raises the first.
"""
from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace
from typing import Any

from gan_core.config.fields import FieldSpec, kind_of_field, range_text, specs
from gan_core.runtypes import registry

LOSSES = ("minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp", "rpgan")
NORMS = ("batch", "none")
# conditional: per-class batch norm (run types with ``class_norm``); plain batch norm in an unconditional run
G_NORMS = ("batch", "conditional", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")
# DiffAugment policies, or "ada" alone: adaptive discriminator augmentation (runtypes.ada)
AUGMENTS = ("color", "translation", "cutout", "ada")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,63}$")  # '=': sweep runs, e.g. s1-lr_d=2e-4-s0
MAX_TAGS = 8


class ConfigError(ValueError):
    """A config value that is not allowed. ``field`` names the offending field."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def problems_of(cls, values: Any) -> list[ConfigError]:
    """Every problem of loose ``values`` for config class ``cls``, in a stable order: unknown
    fields and values of the wrong type (in the order given), each field's own rules (in
    declaration order), then the rules between fields. A field with a problem is not judged
    again by a later rule."""
    if not isinstance(values, dict):
        return [ConfigError("config", "must be a mapping of field names to values")]
    known = {f.name: f for f in dataclasses.fields(cls)}
    found: list[ConfigError] = []
    typed: dict[str, Any] = {}
    for key, raw in values.items():
        name = str(key).replace("-", "_")
        if name not in known:
            found.append(ConfigError(str(key) or "(empty field name)",
                                     f"unknown field; known fields: {', '.join(sorted(known))}"))
            continue
        try:
            typed[name] = coerce(name, known[name], raw)
        except ConfigError as exc:
            found.append(exc)
    bad = {e.field for e in found}
    full = {name: _default(f) for name, f in known.items()} | typed
    for name, s in specs(cls).items():
        if name not in bad:
            message = _field_problem(s, kind_of_field(known[name]), full[name])
            if message:
                found.append(ConfigError(name, message))
                bad.add(name)
    flags = [f.name for f in known.values() if specs(cls)[f.name].specific and kind_of_field(f) == "bool"]
    for name, message in _rules(full, bad, flags):
        if name not in bad:
            found.append(ConfigError(name, message))
            bad.add(name)
    return found


def coerce_all(cls, values: dict[str, Any]) -> dict[str, Any]:
    """Valid loose ``values`` turned into the fields' types, keyed by field name."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    names = {key: str(key).replace("-", "_") for key in values}
    return {names[k]: coerce(names[k], known[names[k]], v) for k, v in values.items()}


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _field_problem(s: FieldSpec, kind: str, value: Any) -> str | None:
    allowed = s.allowed()
    if kind == "list":
        unknown = [v for v in value if allowed is not None and v not in allowed]
        return f"unknown value {unknown[0]!r}; allowed: {', '.join(map(str, allowed))}" if unknown else None
    if allowed is not None and value not in allowed:
        return f"must be one of {', '.join(map(str, allowed))}; got {value!r}"
    if s.low is None:
        return None
    if kind == "int":
        if not s.low <= value <= s.high:
            return f"must be a whole number from {s.low} to {s.high}; got {value!r}"
        return None
    ok = value == value and (value > s.low if s.low_open else value >= s.low) and (value < s.high if s.high_open else value <= s.high)
    return None if ok else f"must be a number in {range_text(s)}; got {value!r}"


def _rules(v: dict[str, Any], bad: set[str], flags: list[str]) -> list[tuple[str, str]]:
    """Rules between fields, and the run type's own; ``v`` holds typed values, ``flags`` the
    on/off fields that only some run types use."""
    out = []
    if not v["data"]:
        out.append(("data", "give a built-in data set name or a path"))
    if v["channels"] == 2:
        out.append(("channels", "must be 1 (greyscale) or 3 (RGB), got 2"))
    if v["loss"] == "wgan-gp" and v["d_norm"] == "batch":
        out.append(("d_norm", "wgan-gp's gradient penalty is per sample: use d_norm 'none' with it"))
    if v["init_from"] and not NAME_PATTERN.match(v["init_from"]):
        out.append(("init_from", "must be the name of an existing run"))
    if len(v["tags"]) > MAX_TAGS or any(not NAME_PATTERN.match(t) for t in v["tags"]):
        out.append(("tags", f"at most {MAX_TAGS} tags of 1-64 letters, digits, '.', '_', '=' or '-'; got {v['tags']!r}"))
    if "ada" in v["augment"] and len(v["augment"]) > 1:
        out.append(("augment", "'ada' is its own pipeline: use it alone, or DiffAugment's color,translation,cutout"))
    if "model" in bad:
        return out
    run_type = registry.get(v["model"])
    if "ada" in v["augment"] and run_type.kind != "image":
        out.append(("augment", f"'ada' is for image GANs ({', '.join(registry.of_kind('image'))}), not {run_type.name}"))
    sizes = run_type.resolutions
    if sizes and v["resolution"] not in sizes:
        out.append(("resolution", f"must be a power of two from {min(sizes)} to {max(sizes)} for {run_type.name}, "
                                  f"got {v['resolution']}"))
    elif not sizes and not 8 <= v["resolution"] <= 128:
        out.append(("resolution", f"must be a whole number from 8 to 128; got {v['resolution']!r}"))
    if v["g_norm"] == "conditional" and not run_type.class_norm:
        users = " and ".join(rt for rt in registry.names() if registry.get(rt).class_norm)
        out.append(("g_norm", f"'conditional' batch norm is for {users}, not {run_type.name}; use 'batch'"))
    for name in flags:
        if v[name] and name not in run_type.fields:
            users = ", ".join(rt for rt in registry.names() if name in registry.get(rt).fields)
            out.append((name, f"is a {users} option, not one for {run_type.name}"))
    if run_type.check is not None and not bad & {"resolution", *run_type.fields}:
        out += run_type.check(SimpleNamespace(**v))
    return out


def coerce(name: str, f: dataclasses.Field, raw: Any) -> Any:
    """Turn strings and near-misses into the field's type; refuse what does not fit."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off", ""):
                return False
            if isinstance(raw, int) and raw in (0, 1):
                return bool(raw)
            raise ValueError
        if kind == "int":
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, float):
                if not raw.is_integer():
                    raise ValueError
                return int(raw)
            return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        if kind == "float":
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        if kind == "str":
            if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
                raise ValueError
            return str(raw)
        if kind.startswith("list"):
            if raw is None:
                return []
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
                raise ValueError
            return [i.strip() for i in items if i.strip()]
    except (ValueError, TypeError, OverflowError):
        pass
    raise ConfigError(name, f"expected {kind.replace('list[str]', 'a comma-separated list')}; got {raw!r}")
