"""Each setting is declared once (backend/core/request.py SETTINGS): the command line, validation and
the metadata writer must say what the declaration says. The form is checked in
tests/gui/test_settings_declaration.py."""

from __future__ import annotations

import dataclasses
import re

import pytest

from backend.cli import commands as cli
from backend.cli import options as cli_options
from backend.core.errors import InputError
from backend.core.request import (
    MODEL_SETTINGS,
    RECORD_FIELDS,
    REQUEST_SETTINGS,
    SETTINGS,
    GenerationRequest,
    ModelSpec,
    Setting,
)
from backend.media.metadata import webui_parameters

RANGED = [s for s in SETTINGS.values() if s.range is not None]
FLAGGED = [s for s in SETTINGS.values() if s.flag]


def test_every_field_is_declared():
    request_fields = {f.name for f in dataclasses.fields(GenerationRequest)} - {"model"}
    request_fields -= set(RECORD_FIELDS)
    assert set(REQUEST_SETTINGS) == request_fields
    assert set(MODEL_SETTINGS) == {f.name for f in dataclasses.fields(ModelSpec)}
    assert all(s.path == f"model.{s.name}" for s in MODEL_SETTINGS.values())


@pytest.mark.parametrize("setting", SETTINGS.values(), ids=list(SETTINGS))
def test_declaration_is_complete(setting: Setting):
    assert setting.label and setting.label == setting.label.strip()
    assert setting.help.endswith("."), "help is a sentence with its full stop"
    if setting.choices:
        assert setting.default in setting.choices
        assert not setting.choice_labels or len(setting.choice_labels) == len(setting.choices)
    if setting.range is not None and setting.default is not None and not setting.parts:
        setting.check(setting.default)
    if setting.parts:
        assert len(setting.shown) == len(setting.parts) == len(setting.part_widgets)
    if setting.switch:
        assert setting.optional and setting.switch_label


def _options(command: str) -> dict[str, object]:
    parser = cli.build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]  # noqa: SLF001
    return {option: action for action in sub._actions for option in action.option_strings}  # noqa: SLF001


@pytest.mark.parametrize("command", ["generate", "video2video"])
def test_command_line_options_follow_the_declaration(command):
    options = _options(command)
    mode = "video2video" if command == "video2video" else "text2video"
    flags = [s.flag for s in FLAGGED]
    assert len(flags) == len(set(flags)), "two settings share a flag"
    for setting in FLAGGED:
        if setting.mode not in (None, mode):
            assert setting.flag not in options, setting.flag
            continue
        action = options[setting.flag]
        assert (action.help or "").replace("%%", "%") == setting.help, setting.flag
        expected_default = setting.default
        if setting.repeat:
            expected_default = []
        elif setting.name == "preset":
            expected_default = None  # applied over the other options only when given
        assert action.default == expected_default, setting.flag
        assert tuple(action.choices or ()) == setting.choices, setting.flag
        if setting.range is not None and not setting.parts:
            assert action.type is type(setting.range[0]), setting.flag
        if setting.metavar:
            assert action.metavar == setting.metavar, setting.flag
        dest = setting.flag[2:].replace("-", "_")
        assert action.dest == dest
        if setting.name != "preset":
            assert cli_options.REQUEST_OPTIONS[dest][0] == setting.path


def test_command_line_defaults_make_the_declared_defaults(tmp_path):
    args = cli.build_parser().parse_args(["generate", "--prompt", "x", "--output", str(tmp_path / "o.gif")])
    request = cli_options.request_from_args(args)
    assert request.replace(seed=None) == GenerationRequest(prompt="x").with_absolute_paths()


def _base(setting: Setting) -> GenerationRequest:
    """A request in which `setting` is checked: its mode, the field its bound depends on at its
    widest, fields bounded by it at their lowest, enough steps that a small video-to-video
    strength still denoises."""
    request = GenerationRequest(prompt="x", steps=500)
    if setting.mode == "video2video":
        request = request.replace(mode="video2video", input_video="clip.mp4")
    if setting.upper_field:
        request = request.replace(**{setting.upper_field: SETTINGS[setting.upper_field].range[1]})
    for other in REQUEST_SETTINGS.values():
        if other.upper_field == setting.name:
            request = request.replace(**{other.name: other.range[0]})
    return request


def _with(request: GenerationRequest, setting: Setting, value) -> GenerationRequest:
    if setting.path.startswith("model."):
        return request.replace(model=dataclasses.replace(request.model, **{setting.name: value}))
    return request.replace(**{setting.name: value})


def _bounds(setting: Setting) -> tuple[list, list]:
    """(accepted, refused) values at each bound: the bounds, and one past each."""
    low, high = setting.range
    one = 1 if isinstance(low, int) else 10**-setting.decimals
    accepted = [high, low + one if setting.above_low else low]
    refused = [low - one, high + one] + ([low] if setting.above_low else [])
    return accepted, refused


@pytest.mark.parametrize("setting", RANGED, ids=[s.name for s in RANGED])
def test_validation_bounds_are_the_declared_range(setting: Setting):
    base = _base(setting)
    accepted, refused = _bounds(setting)
    for index in range(len(setting.parts) or 1):
        def value(number, index=index):
            if not setting.parts:
                return number
            parts = list(setting.shown)
            parts[index] = number
            return tuple(parts)

        for number in accepted:
            _with(base, setting, value(number)).validate()
        for number in refused:
            with pytest.raises(InputError, match=rf"^{re.escape(setting.term)}\b.* must be"):
                _with(base, setting, value(number)).validate()


@pytest.mark.parametrize("setting", [s for s in SETTINGS.values() if s.choices],
                         ids=[s.name for s in SETTINGS.values() if s.choices])
def test_validation_takes_exactly_the_declared_choices(setting: Setting):
    base = _base(setting)
    for choice in setting.choices:
        request = _with(base, setting, choice)
        if setting.name == "mode" and choice == "video2video":
            request = request.replace(input_video="clip.mp4")
        request.validate()
    with pytest.raises(InputError, match=rf"^{re.escape(setting.term)} must be one of {', '.join(setting.choices)};"):
        _with(base, setting, "no-such-choice").validate()


def test_metadata_writer_uses_the_declared_keys():
    request = GenerationRequest(prompt="a fox", seed=3)
    text = webui_parameters(request.to_dict()).splitlines()[-1]
    written = dict(item.split(": ", 1) for item in text.split(", "))
    declared = {s.webui for s in SETTINGS.values() if s.webui}
    assert set(written) == declared
    assert text.startswith("Steps: ")
    assert written["Size"] == f"{request.width}x{request.height}"
    assert written["CFG scale"] == str(request.guidance)
