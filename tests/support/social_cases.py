"""What creators paste for each social network: the accepted forms with the canonical
profile each becomes, and forms that are refused (the unit and the integration tests share
them)."""

from __future__ import annotations

ACCEPTED = [
    # network, pasted, canonical address, label
    ("instagram", "@alice.art", "https://www.instagram.com/alice.art/", "@alice.art"),
    ("instagram", "alice_art", "https://www.instagram.com/alice_art/", "@alice_art"),
    (
        "instagram",
        "https://www.instagram.com/alice/?igsh=x1",
        "https://www.instagram.com/alice/",
        "@alice",
    ),
    ("instagram", "instagram.com/alice", "https://www.instagram.com/alice/", "@alice"),
    ("tiktok", "@alice", "https://www.tiktok.com/@alice", "@alice"),
    ("tiktok", "https://www.tiktok.com/@alice?lang=en", "https://www.tiktok.com/@alice", "@alice"),
    ("youtube", "@alicevids", "https://www.youtube.com/@alicevids", "@alicevids"),
    (
        "youtube",
        "https://m.youtube.com/@alicevids",
        "https://www.youtube.com/@alicevids",
        "@alicevids",
    ),
    (
        "youtube",
        "youtube.com/channel/UC1234567890abcdefghijkl",
        "https://www.youtube.com/channel/UC1234567890abcdefghijkl",
        "channel",
    ),
    (
        "youtube",
        "https://www.youtube.com/c/AliceMusic",
        "https://www.youtube.com/c/AliceMusic",
        "AliceMusic",
    ),
    ("x", "@alice", "https://x.com/alice", "@alice"),
    ("x", "https://twitter.com/alice", "https://x.com/alice", "@alice"),
    ("x", "x.com/alice_1?s=20", "https://x.com/alice_1", "@alice_1"),
    ("threads", "@alice", "https://www.threads.com/@alice", "@alice"),
    ("threads", "https://www.threads.net/@alice", "https://www.threads.com/@alice", "@alice"),
    (
        "bluesky",
        "alice.bsky.social",
        "https://bsky.app/profile/alice.bsky.social",
        "@alice.bsky.social",
    ),
    (
        "bluesky",
        "@Alice.bsky.social",
        "https://bsky.app/profile/alice.bsky.social",
        "@alice.bsky.social",
    ),
    (
        "bluesky",
        "https://bsky.app/profile/alice.example",
        "https://bsky.app/profile/alice.example",
        "@alice.example",
    ),
    (
        "mastodon",
        "alice@mastodon.social",
        "https://mastodon.social/@alice",
        "@alice@mastodon.social",
    ),
    (
        "mastodon",
        "@alice@Mastodon.Social",
        "https://mastodon.social/@alice",
        "@alice@mastodon.social",
    ),
    (
        "mastodon",
        "https://mastodon.social/@alice",
        "https://mastodon.social/@alice",
        "@alice@mastodon.social",
    ),
    (
        "mastodon",
        "https://hachyderm.io/users/bob",
        "https://hachyderm.io/@bob",
        "@bob@hachyderm.io",
    ),
    ("github", "octocat", "https://github.com/octocat", "@octocat"),
    ("github", "https://github.com/octo-cat/", "https://github.com/octo-cat", "@octo-cat"),
    ("linkedin", "jane-doe", "https://www.linkedin.com/in/jane-doe", "jane-doe"),
    (
        "linkedin",
        "https://www.linkedin.com/in/jane-doe-1/",
        "https://www.linkedin.com/in/jane-doe-1",
        "jane-doe-1",
    ),
    ("linkedin", "linkedin.com/company/acme", "https://www.linkedin.com/company/acme", "acme"),
    ("twitch", "ninja_live", "https://www.twitch.tv/ninja_live", "@ninja_live"),
    (
        "twitch",
        "https://www.twitch.tv/ninja_live",
        "https://www.twitch.tv/ninja_live",
        "@ninja_live",
    ),
    (
        "spotify",
        "https://open.spotify.com/artist/0OdUWJ0sBjDrqHygGUXeCF?si=abc",
        "https://open.spotify.com/artist/0OdUWJ0sBjDrqHygGUXeCF",
        "artist",
    ),
    (
        "spotify",
        "spotify:show:5CfCWKI5pZ28U0uOzXkDHe",
        "https://open.spotify.com/show/5CfCWKI5pZ28U0uOzXkDHe",
        "podcast",
    ),
    ("email", "me@example.com", "mailto:me@example.com", "me@example.com"),
    (
        "email",
        "MAILTO:me+news@example.co.uk",
        "mailto:me+news@example.co.uk",
        "me+news@example.co.uk",
    ),
    ("website", "example.com", "https://example.com", "example.com"),
    ("website", "https://www.example.com/shop", "https://www.example.com/shop", "example.com"),
]

REFUSED = [
    ("instagram", "instagram.com/p/Cx12ab"),  # a post, not a profile
    ("instagram", "https://evil.example/alice"),
    ("instagram", "al ice"),
    ("instagram", "javascript:alert(1)"),
    ("tiktok", "tiktok.com/alice"),  # TikTok profiles are /@name
    ("youtube", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
    ("x", "x.com/home"),
    ("x", "a_handle_far_too_long"),
    ("x", "https://x.com:8443/alice"),
    ("threads", "threads.com/alice"),
    ("bluesky", "alice"),  # a handle is a domain name
    ("bluesky", "https://bsky.app/profile/not a handle"),
    ("mastodon", "alice"),  # which server?
    ("mastodon", "https://mastodon.social/alice"),
    ("mastodon", "alice@localhost"),
    ("mastodon", "alice@mastodon.social:8080"),
    ("github", "-alice"),
    ("github", "github.com/settings"),
    ("linkedin", "https://www.linkedin.com/feed/"),
    ("twitch", "abc"),
    ("spotify", "alice"),
    ("spotify", "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"),
    ("email", "me@"),
    ("email", "mailto:me@example.com?subject=hi"),
    ("email", "javascript:alert(1)//@example.com"),
    ("website", "javascript:alert(1)"),
    ("website", "ftp://example.com"),
    ("website", "nodomain"),
]
