#!/usr/bin/env python3
"""Verify an export of the Custos access log (``manage.py export_audit_period``) without Custos.

    python3 verify_audit_export.py EXPORT_DIR KEYS.json

KEYS.json maps each audit-key label to its key in hex, handed over apart from the export.
Checks: every digest's HMAC signature; each digest names the one before (SHA-256 of it); each
event's hash (HMAC-SHA-256 under its key, or plain SHA-256 for events before the switch-over to
keyed hashes) and its link to the one before; each digest's first and last event and count.
Prints every problem and exits 1 if there is one. Python 3 standard library only.
"""

import hashlib
import hmac
import json
import sys
from pathlib import Path


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def main(folder, keys_path):
    folder, keys = (
        Path(folder),
        {k: bytes.fromhex(v) for k, v in json.loads(Path(keys_path).read_text()).items()},
    )
    problems = []
    previous_file = folder / "previous-digest.json"
    previous = json.loads(previous_file.read_text()) if previous_file.exists() else None
    events = {}
    for line in (folder / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        events[event["fields"]["sequence"]] = event
    after = previous["covered_through"] if previous else 0
    prev_hash = previous["last_event"]["hash"] if previous and previous["last_event"] else None
    for path in sorted((folder / "digests").glob("*.json")):
        digest = json.loads(path.read_text())
        body = {k: v for k, v in digest.items() if k != "signature"}
        key = keys.get(digest["key_version"])
        message = b"custos-audit-digest\n" + canonical(body).encode()
        if key is None or not hmac.compare_digest(
            hmac.new(key, message, hashlib.sha256).hexdigest(), digest["signature"]
        ):
            problems.append(f"{path.name}: signature does not verify")
        expected = hashlib.sha256(canonical(previous).encode()).hexdigest() if previous else "0" * 64
        if digest["previous_digest_hash"] != expected:
            problems.append(f"{path.name}: does not follow the digest before it (one missing?)")
        for sequence in range(after + 1, digest["covered_through"] + 1):
            event = events.get(sequence)
            if event is None:
                problems.append(f"event #{sequence}: missing from the export")
                prev_hash = None
                continue
            fields, label = event["fields"], event["fields"].get("key_version")
            message = f"{event['prev_hash']}\n{canonical(fields)}".encode()
            if label:
                computed = hmac.new(keys.get(label, b""), message, hashlib.sha256).hexdigest()
            else:
                computed = hashlib.sha256(message).hexdigest()
            if computed != event["hash"]:
                problems.append(f"event #{sequence}: content does not match its hash")
            if prev_hash is not None and event["prev_hash"] != prev_hash:
                problems.append(f"event #{sequence}: does not link to the event before it")
            prev_hash = event["hash"]
        for which in ("first_event", "last_event"):
            ref = digest[which]
            if ref and (
                events.get(ref["sequence"], {}).get("hash"),
                events.get(ref["sequence"], {}).get("id"),
            ) != (ref["hash"], ref["id"]):
                problems.append(f"{path.name}: its {which} differs from the export")
        if digest["count"] != digest["covered_through"] - after:
            problems.append(f"{path.name}: count does not match its sequences")
        previous, after = digest, digest["covered_through"]
    for problem in problems:
        print(problem)
    print("verified" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
