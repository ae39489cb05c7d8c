"""Every ``TrainConfig`` key is a ``ctdenoise train`` option made from the dataclass field (help, group and
choices in its metadata), and what the command line gives reaches the configuration with its type."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from CTDenoiseTrainingLib.commands.train import NOT_CONFIG, add_parser
from CTDenoiseTrainingLib.config import TrainConfig
from CTDenoiseTrainingLib.config_options import GROUPS, add_config_arguments, option


def _train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser


def _overrides(line: str) -> dict:
    args = _train_parser().parse_args(["train", *line.split()])
    return {key: value for key, value in vars(args).items() if key not in NOT_CONFIG and value is not None}


def test_every_configuration_key_is_an_option_with_a_group() -> None:
    parser = _train_parser()
    destinations = {action.dest for action in parser._subparsers._group_actions[0].choices["train"]._actions}
    keys = {item.name for item in dataclasses.fields(TrainConfig)}
    assert keys <= destinations
    assert all(item.metadata["group"] in GROUPS for item in dataclasses.fields(TrainConfig))
    assert _overrides("") == {}  # nothing given: the configuration file and the defaults stand


def test_given_options_reach_the_configuration_with_their_types() -> None:
    config = TrainConfig.from_dict(_overrides(
        "--name x --features 24 --learning-rate 3e-4 --no-noise-input --train a.nrrd b.nrrd --kernels hann ram-lak "
        "--exposure-control on off --noise-scale 0.05 2.5 --slice-averaging 1 3 --patch 12 64 64 "
        "--validation-noise-scales 0.15 1.6 --recipe teacher-student --consistency-layers head --int8 off"))
    assert (config.name, config.features, config.learning_rate, config.noise_input) == ("x", 24, 3e-4, False)
    assert config.train == ["a.nrrd", "b.nrrd"] and config.kernels == ["hann", "ram-lak"]
    assert config.exposure_control == [True, False]
    assert config.noise_scale == (0.05, 2.5) and config.slice_averaging == (1, 3) and config.patch == (12, 64, 64)
    assert config.validation_noise_scales == [0.15, 1.6] and config.consistency_layers == ["head"]
    assert config.recipe == "teacher-student" and config.int8 == "off"
    assert _overrides("--noise-input") == {"noise_input": True}


@pytest.mark.parametrize("line", ["--architecture unet", "--kernels sharp", "--exposure-control maybe",
                                  "--patch 12 64", "--activation-map-variant both", "--features four"])
def test_values_outside_a_keys_choices_or_type_are_refused_by_the_parser(line: str) -> None:
    with pytest.raises(SystemExit):
        _train_parser().parse_args(["train", *line.split()])


def test_a_key_declared_without_an_option_group_is_an_error() -> None:
    @dataclasses.dataclass
    class Partial:
        declared: int = option(1, group=GROUPS[0])
        forgotten: int = 2

    with pytest.raises(TypeError, match="forgotten"):
        add_config_arguments(argparse.ArgumentParser(), Partial)
