"""What each config field is, for people and for checks: one ``FieldSpec`` per ``TrainConfig``
field, kept in the dataclass field's metadata. The CLI flags and ``--help``, the validation
messages and the Train page's form are all generated from these.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from gan_core.runtypes import registry

GROUPS = ("Data", "Model", "Loss", "Optimiser", "Schedule", "Hardware", "Provenance")


@dataclass(frozen=True)
class FieldSpec:
    label: str  # in words, for the form: "Generator learning rate"
    help: str  # one sentence that also names the technical field, for --help and the form
    group: str  # one of GROUPS
    basic: bool = False  # up front on the form (data set, model, how long); the rest is advanced
    choices: tuple | Callable[[], tuple] | None = None  # allowed values (a callable: looked up when asked)
    low: float | None = None  # range, for numbers and for each item of a list
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    specific: bool = False  # used only by run types that list it in ``RunType.fields``
    form: str | None = None  # how the form asks when the type alone does not say: "select", "multiselect"
    options: tuple | None = None  # the form's offered values when they are a subset of what is allowed

    def allowed(self) -> tuple | None:
        return self.choices() if callable(self.choices) else self.choices


def spec(default: Any, label: str, help: str, group: str, **rules: Any) -> Any:
    """A dataclass field whose metadata holds its ``FieldSpec``."""
    meta = {"spec": FieldSpec(label, help, group, **rules)}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def spec_of(cls, name: str) -> FieldSpec:
    return {f.name: f.metadata["spec"] for f in dataclasses.fields(cls)}[name]


def specs(cls) -> dict[str, FieldSpec]:
    """Field name -> its spec, in declaration order."""
    return {f.name: f.metadata["spec"] for f in dataclasses.fields(cls)}


def kind_of_field(f: dataclasses.Field) -> str:
    """"bool", "int", "float", "str" or "list" (annotations are strings here)."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return "list" if kind.startswith("list") else kind


def applies(cls, name: str, model: str) -> bool:
    """Whether field ``name`` means anything for a run of type ``model``."""
    try:
        run_type = registry.get(model)
    except ValueError:
        return True
    if spec_of(cls, name).specific:
        return name in run_type.fields
    return name not in run_type.ignores


def run_types_for(cls, name: str) -> tuple[str, ...]:
    """The run types field ``name`` applies to."""
    return tuple(m for m in registry.names() if applies(cls, name, m))


def range_text(s: FieldSpec) -> str:
    lo, hi = ("(" if s.low_open else "["), (")" if s.high_open else "]")
    return f"{lo}{s.low}, {s.high}{hi}"


def full_help(cls, name: str) -> str:
    """The field's help with what the registry adds: each run type's line for ``model``, and
    which run types a field is for when only some use it."""
    s = spec_of(cls, name)
    text = s.help
    if name == "model":
        text += " " + "; ".join(f"{m}: {registry.get(m).description}" for m in registry.names()) + "."
    users = run_types_for(cls, name)
    if len(users) < len(registry.names()):
        text += f" For {', '.join(users)} runs."
    return text
