#!/usr/bin/env bash
# Checks the documentation: README.md is at most 250 lines, and every Markdown link in README.md
# and docs/*.md that is not a web address resolves inside the repository (the file exists and,
# for a `#heading` part, the heading does too, by GitHub's rule: lower case, punctuation dropped,
# spaces to hyphens). Links to outside sites are refused: the documents cite them in prose.
# Links inside code (fenced blocks, `spans`) are not links and are skipped.
# Usage: bash .ci/check-docs.sh [REPOSITORY-ROOT]   (default: the repository this script is in)
set -euo pipefail
root=$(realpath "${1:-$(dirname "$0")/..}")
max_lines=250
failures=0
fail() { echo "check-docs: $*"; failures=$((failures + 1)); }

lines=$(wc -l < "$root/README.md")
[ "$lines" -le "$max_lines" ] || fail "README.md has $lines lines, more than $max_lines: move detail into docs/"

# The text of a Markdown file without fenced code blocks and inline code spans.
prose() { awk '/^[[:space:]]*```/ { code = !code; next } !code' "$1" | sed 's/`[^`]*`//g'; }

# The anchors of a Markdown file's headings, one a line (GitHub's slugs; a repeated heading
# gets -1, -2, ...).
anchors() {
  awk '/^[[:space:]]*```/ { code = !code; next } !code && /^#+ / { sub(/^#+ +/, ""); print }' "$1" |
    tr '[:upper:]' '[:lower:]' | sed -e 's/[^a-z0-9 _-]//g' -e 's/ /-/g' |
    awk '{ n = seen[$0]++; print (n ? $0 "-" n : $0) }'
}

shopt -s nullglob
for doc in "$root/README.md" "$root"/docs/*.md; do
  name=${doc#"$root"/}
  dir=$(dirname "$doc")
  while IFS= read -r target; do
    [ -n "$target" ] || continue
    case "$target" in
      http://* | https://* | //* | mailto:* | ftp://*)
        fail "$name: links outside the repository ($target): cite it in prose instead"
        continue ;;
    esac
    path=${target%%#*}
    fragment=
    [[ "$target" == *"#"* ]] && fragment=${target#*#}
    if [ -z "$path" ]; then
      file=$doc
    else
      file=$(realpath -m "$dir/$path")
      case "$file" in
        "$root" | "$root"/*) ;;
        *) fail "$name: $target points outside the repository"; continue ;;
      esac
      [ -e "$file" ] || { fail "$name: $target: no such file ($path)"; continue; }
    fi
    if [ -n "$fragment" ] && [[ "$file" == *.md ]]; then
      anchors "$file" | grep -qxF -- "$fragment" ||
        fail "$name: $target: no heading #$fragment in ${file#"$root"/}"
    fi
  done < <(prose "$doc" | grep -oE '\]\([^) ]*\)' | sed -e 's/^](//' -e 's/)$//')
done

[ "$failures" -eq 0 ] || { echo "check-docs: $failures problem(s)"; exit 1; }
echo "check-docs: README.md $lines lines, every link resolves"
