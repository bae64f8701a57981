"""Config helpers: named fields, range checks, fields of removed options, the memory estimate."""
import math

import pytest

from graphnca.config import REMOVED_FIELDS, Config, check_ranges, meta_step_bytes, with_fields
from graphnca.meta.presets import PRESETS, preset


def test_with_fields_sets_named_fields_and_refuses_unknown_ones():
    cfg = with_fields(Config(), {"rule.neighbourhood": "incident", "task.archs": [[4, 6, 3]], "train.lr": 0.01})
    assert cfg.rule.neighbourhood == "incident" and cfg.task.archs == ((4, 6, 3),) and cfg.train.lr == 0.01
    assert Config().rule.neighbourhood == "consecutive"                 # the defaults are untouched
    with pytest.raises(ValueError, match="no config field 'rule.nope'"):
        with_fields(Config(), {"rule.nope": 1})
    with pytest.raises(ValueError, match="no config field 'lr'"):
        with_fields(Config(), {"lr": 1})


@pytest.mark.parametrize("field, value, message", [
    ("train.lr", math.inf, "train.lr must be a finite number in (0, inf)"),
    ("train.lr", 0.0, "train.lr must be a finite number in (0, inf)"),
    ("rule.step_size", math.nan, "rule.step_size must be a finite number"),
    ("rule.fire_rate", 1.5, "rule.fire_rate must be a finite number in (0, 1]"),
    ("train.damage_p", -0.1, "train.damage_p must be a finite number in [0, 1]"),
    ("task.label_smoothing", 1.0, "task.label_smoothing must be a finite number in [0, 1)"),
    ("train.min_lr_ratio", math.nan, "train.min_lr_ratio must be a finite number in [0, 1]"),
    ("train.batch_per_arch", 0, "train.batch_per_arch must be a finite whole number in [1, inf)"),
    ("train.pool_size", 2.5, "train.pool_size must be a finite whole number"),
    ("task.mean_field", -1.0, "task.mean_field must be a finite number in (0, inf)"),
    ("rule.widths", (), "rule.widths must list at least one positive width"),
    ("task.archs", ((4,),), "task.archs must list architectures of at least two positive layer sizes"),
])
def test_every_number_is_checked(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        check_ranges(with_fields(Config(), {field: value}))


def test_the_defaults_and_every_preset_pass_the_checks():
    check_ranges(Config())
    for name in PRESETS:
        check_ranges(preset(name))
        assert meta_step_bytes(preset(name)) < 4 * 2 ** 30            # a meta-step fits a small machine


def test_fields_of_removed_options_are_dropped_at_off_and_refused_otherwise():
    d = Config().to_dict()
    for key, off in REMOVED_FIELDS.items():
        section, _, name = key.partition(".")
        d[section][name] = off
    assert Config.from_dict(d) == Config()                             # an older file with every option off
    d["train"]["probe_weight"] = 0.5
    with pytest.raises(ValueError, match=r"config field train.probe_weight = 0.5 belongs to an option this version "
                                         r"removed \(only 0.0 can be read\)"):
        Config.from_dict(d)


def test_the_memory_estimate_grows_with_the_batch_and_the_rollout():
    small = with_fields(Config(), {"task.archs": [[4, 8, 3]], "train.batch_per_arch": 2,
                                   "train.grad_checkpoint": False})
    big = with_fields(small, {"train.batch_per_arch": 8})
    longer = with_fields(small, {"train.schedule": "fixed:40"})
    assert meta_step_bytes(big) > 3.5 * meta_step_bytes(small) and meta_step_bytes(longer) > meta_step_bytes(small)
    ck = with_fields(longer, {"train.grad_checkpoint": True})
    assert meta_step_bytes(ck) < meta_step_bytes(longer)


def test_pool_replace_must_name_a_rule():
    from graphnca.config import check_config
    from graphnca.data import load_task
    cfg = with_fields(Config(), {"train.pool_replace": "random"})
    with pytest.raises(ValueError, match="pool_replace must be 'worst' or 'oldest'"):
        check_config(cfg, load_task("iris"))
