"""The parser helpers of filterbank.cli.common: each shared option spelled once."""

import argparse

import pytest

from filterbank.cli.common import (
    add_command,
    add_data_options,
    add_invert_option,
    add_seed_option,
)


def _sub():
    parser = argparse.ArgumentParser(prog="t")
    return parser, parser.add_subparsers(dest="command")


def test_add_command_with_model_and_epilog():
    parser, sub = _sub()
    p = add_command(sub, "run", "short help", "Long description.", model="a model", epilog="E\n x")
    assert p.description == "Long description." and p.epilog == "E\n x"
    assert p.formatter_class is argparse.RawDescriptionHelpFormatter
    assert parser.parse_args(["run", "m.fbk"]).model == "m.fbk"
    q = add_command(sub, "bare", "h", "D.")
    assert q.formatter_class is argparse.HelpFormatter
    assert vars(parser.parse_args(["bare"])) == {"command": "bare"}


def test_shared_options_parse_and_check():
    parser, sub = _sub()
    p = add_command(sub, "x", "h", "D.")
    add_data_options(p, data_default="mnist")
    add_seed_option(p, "the seed", default=0)
    add_invert_option(p, "invert")
    args = parser.parse_args(["x", "--seed", "3", "--invert", "yes", "--test-split", "0.25"])
    assert (args.data, args.seed, args.invert, args.test_split) == ("mnist", 3, "yes", 0.25)
    assert parser.parse_args(["x"]).invert == "auto"
    with pytest.raises(SystemExit):
        parser.parse_args(["x", "--seed", "-1"])
    with pytest.raises(SystemExit):
        parser.parse_args(["x", "--invert", "maybe"])
