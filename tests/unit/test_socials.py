"""What creators paste for each social network, and the canonical profile it becomes."""

from __future__ import annotations

import hashlib
import re
import tomllib

import pytest

from app.resources import STATIC, TEMPLATES
from app.shared.rules import InvalidField, is_safe_href
from app.shared.socials import NETWORKS, SIMPLE_ICONS, accessible_name, clean_social
from tests.support.social_cases import ACCEPTED, REFUSED


@pytest.mark.parametrize("network,pasted,url,label", ACCEPTED)
def test_what_people_paste_becomes_the_canonical_profile(network, pasted, url, label):
    profile = clean_social(NETWORKS[network], pasted)
    assert (profile.url, profile.label) == (url, label)
    assert is_safe_href(profile.url)


@pytest.mark.parametrize("network,pasted", REFUSED)
def test_what_is_not_a_profile_of_that_network_is_refused_with_its_own_message(network, pasted):
    with pytest.raises(InvalidField) as refused:
        clean_social(NETWORKS[network], pasted)
    message = str(refused.value)
    if network == "website":
        assert message  # the URL rules say what is wrong
    else:
        assert message == NETWORKS[network].refusal


def test_every_network_is_accepted_somewhere_above():
    assert {case[0] for case in ACCEPTED} == set(NETWORKS)


def test_the_refusals_say_what_a_profile_of_that_network_looks_like():
    assert NETWORKS["instagram"].refusal == (
        "That is not an Instagram profile: use your handle like @name "
        "or a link to instagram.com/name."
    )
    assert "name@mastodon.social" in NETWORKS["mastodon"].refusal


def test_an_empty_or_overlong_value_gets_a_message_of_its_own():
    with pytest.raises(InvalidField, match="Enter your Instagram profile"):
        clean_social(NETWORKS["instagram"], "  ")
    with pytest.raises(InvalidField, match="Enter your email address"):
        clean_social(NETWORKS["email"], "")
    with pytest.raises(InvalidField, match="too long"):
        clean_social(NETWORKS["website"], "https://example.com/" + "a" * 600)


def test_the_accessible_name_says_the_network_and_who():
    assert accessible_name("instagram", "@alice") == "Instagram: @alice"
    assert accessible_name("email", "me@example.com") == "Email: me@example.com"


def test_every_network_has_an_icon_with_a_path():
    for network in NETWORKS.values():
        drawn = network.icon
        assert drawn.paths and all(
            re.fullmatch(r"[MmLlHhVvCcSsQqTtAaZz0-9.,\s-]+", d) for d in drawn.paths
        )
    # Brands come from simple-icons; LinkedIn (removed there) and email/website are ours.
    assert not NETWORKS["mastodon"].icon.outline
    assert NETWORKS["linkedin"].icon.outline and NETWORKS["email"].icon.outline


def test_the_vendored_icons_match_their_pinned_hashes():
    sums = (SIMPLE_ICONS / "SHA256SUMS").read_text().splitlines()
    listed = {}
    for line in sums:
        digest, name = line.split()
        listed[name] = digest
        assert hashlib.sha256((SIMPLE_ICONS / name).read_bytes()).hexdigest() == digest
    vendored = {p.name for p in SIMPLE_ICONS.iterdir()} - {"SHA256SUMS"}
    assert vendored == set(listed)
    assert "LICENSE.md" in listed and "CC0" in (SIMPLE_ICONS / "LICENSE.md").read_text()
    brands = {n.icon_name for n in NETWORKS.values() if not n.icon.outline}
    assert {f"{b}.svg" for b in brands} == {n for n in listed if n.endswith(".svg")}


def test_the_studio_offers_exactly_the_networks_the_server_accepts():
    card = (TEMPLATES / "studio" / "_socials.html").read_text()
    offered = re.findall(r'\("([a-z]+)", "([^"]+)"\)', card)
    assert offered == [(key, network.name) for key, network in NETWORKS.items()]


def test_the_icons_the_page_reads_are_in_the_wheel():
    root = STATIC.parent
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = {
        file.relative_to(STATIC).as_posix()
        for pattern in setuptools["package-data"]["app.static"]
        for file in STATIC.glob(pattern)
    }
    read = {
        (SIMPLE_ICONS / f"{n.icon_name}.svg").relative_to(STATIC).as_posix()
        for n in NETWORKS.values()
        if not n.icon.outline
    }
    assert read <= shipped
