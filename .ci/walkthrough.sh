#!/usr/bin/env bash
# Runs README.md's walkthrough exactly as written (the sh block between the walkthrough
# markers), in an empty folder, with the built binary on PATH; fails if any line fails.
set -euo pipefail
bin=$(realpath "${1:?usage: walkthrough.sh path/to/o365-activities}")
readme=$(realpath "$(dirname "$0")/../README.md")
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$bin" "$work/bin/o365-activities"
script=$(awk '/<!-- walkthrough:start -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on && !/^```/' "$readme")
[ -n "$script" ] || { echo "walkthrough: no walkthrough block in README.md"; exit 1; }
cd "$work"
PATH="$work/bin:$PATH" bash -euo pipefail -c "set -m; $script"
echo "walkthrough: passed"
