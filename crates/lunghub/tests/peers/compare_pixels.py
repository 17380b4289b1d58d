"""Checks lunghub's de-identified DICOM files with pydicom, a peer implementation.

Reads a JSON list of {"input": ..., "output": ...} pairs and, for each, checks that:
- pydicom reads the output without `force`, its preamble is zeroed, and the meta group's
  MediaStorageSOPInstanceUID equals the data set's SOPInstanceUID;
- the raw Pixel Data bytes (native or encapsulated) equal the input's;
- where pydicom can decode the input's pixels, the decoded arrays are equal.

Prints one JSON object with the counts and failures; exits 1 if anything failed.
"""
import json
import sys

import numpy as np
import pydicom

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def check(pair):
    out_path, in_path = pair["output"], pair["input"]
    with open(out_path, "rb") as f:
        if f.read(128) != b"\0" * 128:
            return "preamble is not zeroed", None
    out = pydicom.dcmread(out_path)
    if out.file_meta.MediaStorageSOPInstanceUID != out.get("SOPInstanceUID"):
        return "MediaStorageSOPInstanceUID differs from SOPInstanceUID", None
    if "SourceApplicationEntityTitle" in out.file_meta:
        return "source AE title survived", None
    inp = pydicom.dcmread(in_path, force=True)
    for kw in PIXEL_KEYWORDS:
        if kw in inp or kw in out:
            if kw not in out or kw not in inp:
                return f"{kw} present in only one of input and output", None
            if inp[kw].value != out[kw].value:
                return f"{kw} bytes differ", None
    if not any(kw in inp for kw in PIXEL_KEYWORDS):
        return None, "no pixels"
    try:
        expected = inp.pixel_array
    except Exception as e:  # pydicom lacks a decoder, or the input is odd
        return None, f"pydicom cannot decode the input: {type(e).__name__}"
    actual = out.pixel_array
    if expected.shape != actual.shape or not np.array_equal(expected, actual):
        return "decoded pixel arrays differ", None
    return None, "arrays equal"


def main():
    pairs = json.load(open(sys.argv[1]))
    failures, counts = [], {}
    for pair in pairs:
        try:
            failure, note = check(pair)
        except Exception as e:
            failure, note = f"{type(e).__name__}: {e}", None
        if failure:
            failures.append({"input": pair["input"], "failure": failure})
        else:
            key = note.split(":")[0]
            counts[key] = counts.get(key, 0) + 1
    print(json.dumps({"checked": len(pairs), "counts": counts, "failures": failures}, indent=1))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
