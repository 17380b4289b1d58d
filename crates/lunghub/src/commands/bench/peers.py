"""Drives a peer de-identifier over every file of a folder from one Python process.

usage: peers.py dcmanon|dicognito INPUT_DIR OUTPUT_DIR
Prints {"ok": N, "failed": N} as JSON. Per-file errors are counted, not fatal, as in lunghub.
"""
import json
import os
import sys

tool, src, dst = sys.argv[1:4]
files = sorted(os.path.join(d, f) for d, _, names in os.walk(src) for f in names)

if tool == "dcmanon":
    from dcmanon import Anonymizer

    anonymizer = Anonymizer()

    def run(path, out):
        with open(out, "wb") as f:
            f.write(anonymizer.anonymize(path))

elif tool == "dicognito":
    import pydicom
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer(seed="lunghub-bench")

    def run(path, out):
        ds = pydicom.dcmread(path)
        anonymizer.anonymize(ds)
        ds.save_as(out)

else:
    sys.exit(f"unknown tool {tool}")

ok = failed = 0
for i, path in enumerate(files):
    try:
        run(path, os.path.join(dst, f"{i}.dcm"))
        ok += 1
    except Exception:  # a peer's per-file failure, like lunghub's "unreadable"
        failed += 1
print(json.dumps({"ok": ok, "failed": failed}))
