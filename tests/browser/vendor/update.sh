#!/usr/bin/env bash
# Re-vendor axe-core, the accessibility checker the browser tests inject into pages, from the
# npm registry and check its hashes (tests/browser/axe.py checks them again before each use).
# For the tests only: nothing under tests/ is shipped or served by the app.
set -euo pipefail
cd "$(dirname "$0")"
AXE=4.14.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "axe-core@$AXE" >/dev/null)
tar -xzf "$work/axe-core-$AXE.tgz" -C "$work" \
  package/axe.min.js package/LICENSE package/LICENSE-3RD-PARTY.txt
cp "$work/package/axe.min.js" "axe-$AXE.min.js"
# axe.min.js is MPL-2.0 and bundles MIT-licensed libraries: both notices travel with it.
cp "$work/package/LICENSE" axe-LICENSE
cp "$work/package/LICENSE-3RD-PARTY.txt" axe-LICENSE-3RD-PARTY.txt
sha256sum -c SHA256SUMS
