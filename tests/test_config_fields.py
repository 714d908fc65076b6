"""One source for the config: each field's description drives the CLI flags and --help, the
validation messages (all problems at once) and the Train page's form; one set of run states
says which actions each allows, and every state has a badge."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gan_core.cli.train import add_train_arguments
from gan_core.config import GROUPS, ConfigError, TrainConfig, run_types_for, specs
from gan_core.jobs import manager as jobs
from gan_core.runs.rundir import RunDir
from gan_core.runs.states import ACTIONS, RunState
from gan_core.runtypes import registry
from ui.status import STATE_BADGES, state_badge

ROOT = Path(__file__).resolve().parents[1]


def test_every_field_describes_itself():
    for name, s in specs(TrainConfig).items():
        assert s.label and s.label != name and f"({name})" in s.help and s.group in GROUPS, name
    basic = [n for n, s in specs(TrainConfig).items() if s.basic]
    assert basic == ["data", "model", "steps", "minutes"]  # data set, model and how long, up front
    assert run_types_for(TrainConfig, "scale") == ("srgan",) and run_types_for(TrainConfig, "frames") == ("dvdgan",)
    assert set(run_types_for(TrainConfig, "lr_g")) == set(registry.names())


def test_cli_flags_and_help_come_from_the_fields():
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    flags = {a.dest: a for a in parser._actions}
    for f in dataclasses.fields(TrainConfig):
        assert flags[f.name].help.startswith(specs(TrainConfig)[f.name].help), f.name
    assert "srgan: super-resolution" in flags["model"].help  # each run type's line, from the registry
    assert "For dcgan runs." in flags["minibatch_std"].help


def test_every_problem_is_reported_at_once_and_validate_raises_the_first():
    values = {"lr_g": -1, "channels": 2, "model": "dcgan", "resolution": 48, "augment": "color,blur", "wat": 1,
              "loss": "wgan-gp", "d_norm": "batch"}
    problems = TrainConfig.problems(values)
    assert {p.field for p in problems} == {"wat", "lr_g", "channels", "resolution", "augment", "d_norm"}
    assert all(isinstance(p, ConfigError) and p.message in str(p) for p in problems)
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(values)
    assert str(info.value) == str(problems[0])
    assert TrainConfig.problems(TrainConfig.from_dict({"data": "shapes"}).to_dict()) == []


def test_the_train_page_shows_each_problem_under_its_field():
    at = AppTest.from_file(str(ROOT / "pages" / "3_Train.py"), default_timeout=90).run()
    at.number_input(key="f_width").set_value(2)
    at.number_input(key="f_batch_size").set_value(1)
    at.number_input(key="f_lr_g").set_value(-1.0).run()
    errors = [e.value for e in at.error]
    assert any(e.startswith("must be a whole number from 4 to 1024") for e in errors)
    assert any(e.startswith("must be a whole number from 2 to 4096") for e in errors)
    assert any(e.startswith("must be a number in (0.0, 1.0]") for e in errors)
    assert any("Fix 3 problems" in e for e in errors)


def test_run_states_know_their_actions_and_every_state_has_a_badge():
    allowed = {s.value: [a for a in ACTIONS if s.allows(a)] for s in RunState}
    assert allowed["running"] == ["stop"] and allowed["queued"] == ["cancel"]
    assert allowed["stopping"] == [] and allowed["finished"] == ["delete"] and allowed["imported"] == ["delete"]
    assert allowed["crashed"] == ["resume", "delete"]
    assert set(STATE_BADGES) == set(RunState) and state_badge("imported").endswith("imported")
    assert not RunState.permits("garbled", "resume") and RunState.is_live("stopping")


def test_resume_refuses_an_imported_run_with_a_reason():
    run = RunDir.create("imp", TrainConfig.from_dict({"data": "shapes"}))
    run.write_status(state="imported")
    with pytest.raises(jobs.JobError, match="init-from imp"):
        jobs.resume("imp")
