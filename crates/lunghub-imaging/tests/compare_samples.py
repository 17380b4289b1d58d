"""Compares lunghub-imaging's decoded samples with pydicom's pixel_array.

usage: compare_samples.py LIST.json
LIST is [{"input": dicom path, "raw": file of little-endian samples, "dtype": numpy dtype,
"frames": F, "rows": R, "columns": C, "samples": S, "lossy": bool}, ...].
Prints {"equal": [...], "close": [...], "differ": [...], "pydicom_failed": [...]}.
Lossy codecs may differ by a few levels between decoders (the JPEG standard allows IDCT
tolerance, and chroma upsampling differs): "close" means at most 4 apart anywhere and under
0.5 apart on average.
"""
import json
import sys
import warnings

import numpy as np
import pydicom

warnings.simplefilter("ignore")
result = {"equal": [], "close": [], "differ": [], "pydicom_failed": []}
for item in json.load(open(sys.argv[1])):
    name = item["input"]
    try:
        ds = pydicom.dcmread(name, force=True)
        expected = ds.pixel_array
    except Exception as e:
        result["pydicom_failed"].append([name, f"{type(e).__name__}: {e}"[:200]])
        continue
    ours = np.fromfile(item["raw"], dtype=np.dtype(item["dtype"]).newbyteorder("<"))
    shape = (item["frames"], item["rows"], item["columns"], item["samples"])
    expected = expected.reshape(shape) if expected.size == np.prod(shape) else expected
    if ours.size != expected.size:
        result["differ"].append([name, f"{ours.size} values, pydicom has {expected.size} {expected.shape}"])
        continue
    ours = ours.reshape(expected.shape)
    if np.array_equal(ours, expected) or (ours.dtype.kind == "f" and np.allclose(ours, expected, equal_nan=True)):
        result["equal"].append(name)
        continue
    delta = np.abs(ours.astype(np.float64) - expected.astype(np.float64))
    diff = delta.max()
    if item["lossy"] and diff <= 4 and delta.mean() < 0.5:
        result["close"].append([name, float(diff), float(delta.mean())])
    else:
        result["differ"].append([name, f"dtype {ours.dtype} vs {expected.dtype}, max difference {diff}"])
print(json.dumps(result, indent=1))
