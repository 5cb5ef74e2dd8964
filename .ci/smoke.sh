#!/usr/bin/env bash
# End-to-end smoke test: the built binary pulls a mailbox from `mock-tenant serve` over HTTP,
# with throttling, faults and a live (growing) mailbox switched on, and the result is checked
# against the corpus and the planted truth: every Id once, in order, hashes as the manifest says.
set -euo pipefail
bin=${1:?usage: smoke.sh path/to/o365-activities}
bin=$(realpath "$bin")
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin" mock-tenant generate --out "$work/corpus.jsonl" --truth "$work/truth.json" \
  --users 3 --per-user 4000 --scenario bec --seed 7 --quiet
"$bin" mock-tenant serve --corpus "$work/corpus.jsonl" --url-file "$work/url" --tokens smoke-token \
  --throttle 10/1 --fail-rate 0.05 --reset-rate 0.02 --truncate-rate 0.02 --insert-per-request 2 \
  --seed 7 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 1 100); do [ -s "$work/url" ] && break; sleep 0.1; done
[ -s "$work/url" ] || { echo "smoke: the mock tenant did not start"; cat "$work/serve.err"; exit 1; }
mailbox=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mailbox"])' "$work/truth.json")

OAUTH_TOKEN=smoke-token "$bin" pull --user "$mailbox" --output "$work/victim.csv" \
  --base-url "$(cat "$work/url")" --page-size 100 --max-retries 30 --quiet

python3 - "$work" "$mailbox" <<'PY'
import csv, json, sys
work, mailbox = sys.argv[1], sys.argv[2]
expected = []
for line in open(f"{work}/corpus.jsonl", encoding="utf-8"):
    record = json.loads(line)
    if record["_mailbox"] == mailbox:
        expected.append((record["TimeStamp"], record["Id"]))
expected.sort()
got = [json.loads(line) for line in open(f"{work}/victim.jsonl", encoding="utf-8")]
ids = [r["Id"] for r in got]
assert len(ids) == len(set(ids)), "duplicate records"
assert ids == [i for _, i in expected], f"records differ from the corpus: {len(ids)} vs {len(expected)}"
truth = json.load(open(f"{work}/truth.json"))
missing = set(truth["attacker_activity_ids"]) - set(ids)
assert not missing, f"planted activities missing: {missing}"
rows = list(csv.DictReader(open(f"{work}/victim.csv", encoding="utf-8", newline="")))
assert [r["Id"] for r in rows] == ids, "the CSV rows differ from the JSON Lines"
manifest = json.load(open(f"{work}/victim.csv.manifest.json"))
assert manifest["status"] == "complete" and manifest["records"] == len(ids)
with open(f"{work}/SHA256SUMS", "w") as sums:
    for f in manifest["files"]:
        sums.write(f"{f['sha256']}  {f['name']}\n")
print(f"smoke: {len(ids)} records, {manifest['requests']} requests, {manifest['retries']} retries, "
      f"{manifest['throttle_waits']} throttle waits")
PY
(cd "$work" && sha256sum -c SHA256SUMS)
echo "smoke: passed"
