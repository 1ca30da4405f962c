#!/usr/bin/env python3
"""Verifies a Steward audit-log export (Audit log -> Export JSON lines) offline.

Each line is one event with its chain fields. For every event this checks that
  sha256(prev_hash + canonical) == hash           (the event is unchanged)
  the fields shown equal the fields in canonical  (what you read is what was hashed)
and, from one event to the next, that prev_hash is the previous event's hash
(nothing was removed or reordered). An unfiltered export starts at event 1.
With --filtered, gaps in the sequence are expected and only each event's own
hash is checked. Compare the last hash ("head") with `steward audit verify`.

Usage: verify-audit-export.py [--filtered] steward-audit-<business>.jsonl
Exit status: 0 when the export holds, 1 at the first event that does not.
"""
import hashlib
import json
import sys


def fail(seq, reason):
    print(f"event {seq}: {reason}")
    sys.exit(1)


def main(argv):
    filtered = "--filtered" in argv
    paths = [a for a in argv if not a.startswith("--")]
    if len(paths) != 1:
        print(__doc__)
        return 2
    previous = None
    count = 0
    with open(paths[0], encoding="utf-8") as export:
        for line in export:
            if not line.strip():
                continue
            event = json.loads(line)
            seq = event["seq"]
            digest = hashlib.sha256((event["prev_hash"] + event["canonical"]).encode("utf-8")).hexdigest()
            if digest != event["hash"]:
                fail(seq, "its content does not match its hash (the event was changed)")
            hashed = json.loads(event["canonical"])
            for field in ("seq", "action", "subject", "why", "area", "actor_email", "detail"):
                if hashed.get(field) != event.get(field):
                    fail(seq, f"the {field} shown is not the {field} that was hashed")
            if previous is None:
                if not filtered and (seq != 1 or event["prev_hash"] != ""):
                    fail(seq, "an unfiltered export starts at event 1")
            elif seq == previous["seq"] + 1:
                if event["prev_hash"] != previous["hash"]:
                    fail(seq, "it does not link to the event before it")
            elif not filtered:
                fail(seq, f"events {previous['seq'] + 1} to {seq - 1} are missing")
            previous = event
            count += 1
    head = previous["hash"] if previous else ""
    print(f"the export holds: {count} events, head {head}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
