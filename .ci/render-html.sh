#!/usr/bin/env bash
# Checks that the triage HTML report renders in headless Chromium (Debian's `chromium` package,
# installed here if missing): runs the demo, renders its triage.html to a PNG, and checks the
# picture is a real page (not blank) and that the page has nothing to fetch.
# Usage: bash .ci/render-html.sh path/to/o365-activities [out.png]
set -euo pipefail
bin=$(realpath "${1:?usage: render-html.sh path/to/o365-activities [out.png]}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
png=${2:-$work/triage.png}
if ! command -v chromium >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
"$bin" demo --out-dir "$work/demo" --quiet
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --window-size=1280,2400 --screenshot="$png" \
  --enable-logging=stderr --v=0 "file://$work/demo/triage.html" 2>"$work/chromium.log" || true
[ -s "$png" ] || { echo "render: no screenshot"; tail -20 "$work/chromium.log"; exit 1; }
size=$(stat -c %s "$png")
[ "$size" -gt 30000 ] || { echo "render: the screenshot is nearly empty ($size bytes)"; exit 1; }
if grep -Eiq '(src=|href="[^#]|url\(|<link|<script|@import)' "$work/demo/triage.html"; then
  echo "render: the page would fetch something"; exit 1
fi
echo "render: triage.html rendered to $png ($size bytes)"
