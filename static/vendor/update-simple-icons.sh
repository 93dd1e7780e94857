#!/usr/bin/env bash
# Re-vendor the brand icons of the social row from the npm package simple-icons (CC0), and
# check their hashes. Only the icons the page can show are kept, with the package's licence
# and its trademark disclaimer. LinkedIn is not in simple-icons (removed at the trademark
# owner's request): the page draws a neutral glyph for it (app/shared/socials.py).
set -euo pipefail
cd "$(dirname "$0")"
VERSION=16.37.0
ICONS="instagram tiktok youtube x threads bluesky mastodon github twitch spotify"
dest="simple-icons-$VERSION"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "simple-icons@$VERSION" >/dev/null)
tar -xzf "$work/simple-icons-$VERSION.tgz" -C "$work" package/LICENSE.md package/DISCLAIMER.md \
  $(for icon in $ICONS; do echo "package/icons/$icon.svg"; done)
mkdir -p "$dest"
cp "$work/package/LICENSE.md" "$work/package/DISCLAIMER.md" "$dest/"
for icon in $ICONS; do cp "$work/package/icons/$icon.svg" "$dest/"; done
(cd "$dest" && sha256sum -c SHA256SUMS)
