"""Compares lunghub's JPEG-LS decoder with pydicom's pixel_array (libjpeg), sample for sample.

usage: compare_jpeg_ls.py LIST.json
LIST is [{"input": dicom path, "raw": file of little-endian uint16 samples}, ...], the raw
samples frame by frame, row by row, pixel-interleaved. Prints {"equal": [...], "differ":
[...]}: JPEG-LS decoding, near-lossless included, is exact, so there is no "close".
"""
import json
import sys
import warnings

import numpy as np
import pydicom

warnings.simplefilter("ignore")
result = {"equal": [], "differ": []}
for item in json.load(open(sys.argv[1])):
    name = item["input"]
    try:
        ds = pydicom.dcmread(name, force=True)
        # The corpus's JPEG-LS files are MONOCHROME2 or RGB, so pixel_array converts nothing.
        expected = ds.pixel_array
    except Exception as e:
        result["differ"].append([name, f"pydicom failed: {type(e).__name__}: {e}"[:300]])
        continue
    ours = np.fromfile(item["raw"], dtype="<u2")
    # pydicom gives signed types for PixelRepresentation 1; compare the stored bit patterns.
    expected = expected.astype(np.int64) & ((1 << int(ds.BitsStored)) - 1)
    ours = ours.astype(np.int64)
    if ours.size != expected.size:
        result["differ"].append([name, f"{ours.size} values, pydicom has {expected.size}"])
    elif np.array_equal(ours, expected.reshape(-1)):
        result["equal"].append(name)
    else:
        delta = np.abs(ours - expected.reshape(-1))
        result["differ"].append([name, f"max difference {delta.max()}, {int((delta > 0).sum())} samples differ"])
print(json.dumps(result, indent=1))
