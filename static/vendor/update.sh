#!/usr/bin/env bash
# Re-vendor the pinned front-end libraries from the npm registry and check their hashes.
# htmx stays on 2.x: htmx 4 drops inherited hx-headers (our CSRF token) and HX-Trigger.
set -euo pipefail
cd "$(dirname "$0")"
HTMX=2.0.11
SORTABLE=1.15.7
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX" "sortablejs@$SORTABLE" >/dev/null)
tar -xzf "$work/htmx.org-$HTMX.tgz" -C "$work" package/dist/htmx.min.js
cp "$work/package/dist/htmx.min.js" "htmx-$HTMX.min.js"
rm -rf "$work/package"
tar -xzf "$work/sortablejs-$SORTABLE.tgz" -C "$work" package/Sortable.min.js
cp "$work/package/Sortable.min.js" "sortable-$SORTABLE.min.js"
sha256sum -c SHA256SUMS
