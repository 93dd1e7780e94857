"""The accent colour's contrast maths (WCAG 2.x) and the rule built on it: text on buttons
reaches AA (4.5:1) with white or dark ink, and a dark page never swallows the accent."""

from __future__ import annotations

import random

import pytest

from app.shared.rules import (
    AA_NON_TEXT,
    AA_TEXT,
    INK_DARK,
    INK_LIGHT,
    InvalidField,
    accent_ink,
    accent_on,
    accent_problem,
    clean_accent,
    contrast_ratio,
    mix,
    relative_luminance,
)


@pytest.mark.parametrize(
    ("colour", "luminance"),
    [
        ("#000000", 0.0),
        ("#ffffff", 1.0),
        ("#ff0000", 0.2126),
        ("#00ff00", 0.7152),
        ("#0000ff", 0.0722),
        ("#808080", 0.2158605),
    ],
)
def test_relative_luminance_follows_the_wcag_formula(colour: str, luminance: float):
    assert relative_luminance(colour) == pytest.approx(luminance, abs=1e-6)


def test_contrast_ratio_matches_known_pairs_and_is_symmetric():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1)
    # WebAIM's checker: #767676 on white is the lightest grey that passes AA.
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio("#777777", "#ffffff") < AA_TEXT
    assert contrast_ratio("#0f9d76", "#111111") == contrast_ratio("#111111", "#0f9d76")


def test_mix_moves_a_colour_towards_another():
    assert mix("#000000", "#ffffff", 0) == "#000000"
    assert mix("#000000", "#ffffff", 1) == "#ffffff"
    assert mix("#000000", "#ffffff", 0.5) == "#808080"
    assert mix("#ff0000", "#0000ff", 0.25) == "#bf0040"


@pytest.mark.parametrize(
    ("accent", "ink"),
    [
        ("#0f9d76", INK_DARK),
        ("#ffee00", INK_DARK),
        ("#123456", INK_LIGHT),
        ("#e0475b", INK_DARK),
        ("#0b7d5e", INK_LIGHT),
    ],
)
def test_text_on_the_accent_is_whichever_ink_reads_best(accent: str, ink: str):
    assert accent_ink(accent) == ink
    assert contrast_ratio(accent, ink) >= AA_TEXT


def test_a_stored_middle_tone_still_gets_readable_text():
    # Neither white (4.3:1) nor the page's near-black (4.3:1) is enough on this violet.
    assert contrast_ratio("#7c5cff", INK_LIGHT) < AA_TEXT
    assert contrast_ratio("#7c5cff", INK_DARK) < AA_TEXT
    assert accent_ink("#7c5cff") == "#000000"
    assert contrast_ratio("#7c5cff", accent_ink("#7c5cff")) >= AA_TEXT


def test_every_grey_gets_ink_that_passes_aa():
    for level in range(256):
        grey = f"#{level:02x}{level:02x}{level:02x}"
        assert contrast_ratio(grey, accent_ink(grey)) >= AA_TEXT, grey


@pytest.mark.parametrize("accent", ["#0f9d76", "#ffee00", "#123456", "#000000", "#ffffff"])
def test_accents_either_ink_can_serve_are_accepted(accent: str):
    assert accent_problem(accent) is None
    assert clean_accent(accent.upper()) == accent


def test_a_middle_tone_is_refused_with_the_measure_and_two_colours_that_work():
    problem = accent_problem("#7c5cff")
    assert problem == (
        "#7c5cff is a middle tone: neither white nor dark text on your buttons would be "
        "readable enough (contrast 4.3:1, needs 4.5:1). "
        "Try #7859f7 or darker for white text, or #8061ff or lighter for dark text."
    )
    assert contrast_ratio("#7859f7", INK_LIGHT) >= AA_TEXT
    assert contrast_ratio("#8061ff", INK_DARK) >= AA_TEXT
    with pytest.raises(InvalidField, match="middle tone"):
        clean_accent(" #7C5CFF ")


def test_the_shown_ratio_is_rounded_down_so_a_refusal_never_reads_as_passing():
    # #787878 reaches 4.48:1 at best: shown as 4.4, not 4.5.
    problem = accent_problem("#787878")
    assert problem is not None and "(contrast 4.4:1, needs 4.5:1)" in problem


def test_a_malformed_colour_is_refused_before_any_contrast_check():
    with pytest.raises(InvalidField, match="like #0f9d76"):
        clean_accent("teal")


@pytest.mark.parametrize("background", ["#0c1020", "#0f4d6c", "#1d1a16", "#2c1426"])
@pytest.mark.parametrize("accent", ["#000000", "#1f1b16", "#123456", "#7c5cff", "#0f9d76"])
def test_on_a_dark_page_the_accent_is_lightened_until_it_shows(background: str, accent: str):
    shown = accent_on(background, accent)
    assert contrast_ratio(shown, background) >= AA_NON_TEXT
    assert contrast_ratio(shown, accent_ink(shown)) >= AA_TEXT
    assert relative_luminance(shown) >= relative_luminance(accent)


def test_an_accent_that_already_shows_is_left_alone():
    assert accent_on("#0c1020", "#e0475b") == "#e0475b"
    assert accent_on("#eef8f3", "#0f9d76") == "#0f9d76"


def test_on_a_light_page_a_too_light_accent_is_darkened():
    shown = accent_on("#f7f3ea", "#fff8e0")
    assert relative_luminance(shown) < relative_luminance("#fff8e0")
    assert contrast_ratio(shown, "#f7f3ea") >= AA_NON_TEXT


def _searched_by_colour(colour: str, target: str, good) -> str:
    """The search as first written: each 1 % mix made as a colour and tested as one."""
    for step in range(101):
        candidate = mix(colour, target, step / 100)
        if good(candidate):
            return candidate
    return target


def _accent_on_by_colour(background: str, accent: str) -> str:
    def stands_out(colour: str) -> bool:
        best = max(contrast_ratio(colour, ink) for ink in (INK_LIGHT, INK_DARK))
        return contrast_ratio(colour, background) >= AA_NON_TEXT and best >= AA_TEXT

    if stands_out(accent):
        return accent
    dark_page = contrast_ratio(background, "#ffffff") > contrast_ratio(background, "#000000")
    return _searched_by_colour(accent, "#ffffff" if dark_page else "#000000", stands_out)


def test_the_search_on_luminances_finds_what_the_search_on_colours_finds():
    # The page's stylesheet searches on channel bytes and luminances (it runs for every new
    # accent a process renders); it must pick exactly the colour the plain search picks.
    rng = random.Random(7)
    accents = [f"#{rng.randrange(1 << 24):06x}" for _ in range(600)]
    accents += [f"#{v:02x}{v:02x}{v:02x}" for v in range(256)]
    backgrounds = ["#0c1020", "#0f4d6c", "#0c1915", "#2c1426", "#1d1a16", "#f7f3ea", "#eef8f3"]
    for accent in accents:
        for background in backgrounds:
            assert accent_on(background, accent) == _accent_on_by_colour(background, accent)
        problem = accent_problem(accent)
        if problem is not None:
            darker = _searched_by_colour(
                accent, "#000000", lambda c: contrast_ratio(c, INK_LIGHT) >= AA_TEXT
            )
            lighter = _searched_by_colour(
                accent, "#ffffff", lambda c: contrast_ratio(c, INK_DARK) >= AA_TEXT
            )
            assert f"Try {darker} or darker" in problem and f"or {lighter} or lighter" in problem
