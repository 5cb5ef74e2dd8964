#!/usr/bin/env bash
# End-to-end smoke test: the built binary pulls a mailbox from `mock-tenant serve` over HTTP,
# with throttling, faults and a live (growing) mailbox switched on, and the result is checked
# against the corpus and the planted truth: every Id once, in order, hashes as the manifest says.
set -euo pipefail
bin=${1:?usage: smoke.sh path/to/o365-activities}
bin=$(realpath "$bin")
work=$(mktemp -d)
server_pid=
audit_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  [ -n "$audit_pid" ] && kill "$audit_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" mock-tenant generate --out "$work/corpus.jsonl" --truth "$work/truth.json" \
  --audit-log "$work/audit-export.csv" --users 3 --per-user 4000 --scenario bec --seed 7 --quiet
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

# The same mailbox from the audit log: signed in with a client secret, tokens that live 2 s,
# queries over their record limit, 429s. Every record of the victim once (the served tenant has
# no planted rule or forwarding: a corpus file carries no truth).
"$bin" mock-tenant serve --corpus "$work/corpus.jsonl" --url-file "$work/audit-url" \
  --token-ttl 2 --record-limit 700 --audit-throttle-every 6 --query-polls 3 \
  >"$work/audit-serve.out" 2>"$work/audit-serve.err" &
audit_pid=$!
for _ in $(seq 1 100); do [ -s "$work/audit-url" ] && break; sleep 0.1; done
[ -s "$work/audit-url" ] || { echo "smoke: the mock tenant did not start"; cat "$work/audit-serve.err"; exit 1; }
O365_CLIENT_SECRET=mock-client-secret "$bin" pull --source audit --user "$mailbox" \
  --output "$work/victim-ual.jsonl" --start 2017-01-01T00:00:00Z --end 2018-06-02T00:00:00Z \
  --graph-url "$(cat "$work/audit-url")" --authority-url "$(cat "$work/audit-url")" \
  --tenant 6babcaad-604b-40ac-a9d7-9fd97c0b779f --client-id mock-client-id --poll-interval 0.5 --quiet
python3 - "$work" "$mailbox" <<'PY'
import csv, json, sys
work, mailbox = sys.argv[1], sys.argv[2]
expected = set()
with open(f"{work}/audit-export.csv", encoding="utf-8-sig", newline="") as export:
    for row in csv.DictReader(export):
        record = json.loads(row["AuditData"])
        if mailbox in (record.get("UserId"), record.get("MailboxOwnerUPN")) and not record["Id"].startswith("planted-"):
            expected.add(record["Id"])
got = [json.loads(line)["id"] for line in open(f"{work}/victim-ual.jsonl", encoding="utf-8")]
assert len(got) == len(set(got)), "duplicate audit log records"
assert set(got) == expected, f"audit log records differ: {len(got)} vs {len(expected)}"
manifest = json.load(open(f"{work}/victim-ual.jsonl.manifest.json"))
queries = manifest["source_log"]["queries"]
assert manifest["status"] == "complete" and any(q["split"] for q in queries), "no query was split"
print(f"smoke: {len(got)} audit log records through {len(queries)} queries, "
      f"{manifest['throttle_waits']} throttle waits")
PY
echo "smoke: passed"
