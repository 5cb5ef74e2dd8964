#!/usr/bin/env bash
# Runs README.md's walkthrough exactly as written (the sh block between the walkthrough
# markers), in an empty folder, with the built binary on PATH; fails if any line fails. The
# walkthrough runs in a process group of its own, ended whatever happens, so a server it started
# never outlives it.
set -euo pipefail
bin=$(realpath "${1:?usage: walkthrough.sh path/to/o365-activities}")
readme=$(realpath "$(dirname "$0")/../README.md")
work=$(mktemp -d)
group=
cleanup() {
  [ -n "$group" ] && kill -- "-$group" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin"
ln -s "$bin" "$work/bin/o365-activities"
script=$(awk '/<!-- walkthrough:start -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on && !/^```/' "$readme")
[ -n "$script" ] || { echo "walkthrough: no walkthrough block in README.md"; exit 1; }
cd "$work"
PATH="$work/bin:$PATH" setsid bash -euo pipefail -c "set -m; $script" &
group=$!
wait "$group"
echo "walkthrough: passed"
