"""pydicom's rendering of a DICOM file's first frame, as raw 8-bit bytes on stdout.

usage: compare_display.py palette|modality FILE
palette: apply_color_lut, 16-bit entries cut to their high byte.
modality: apply_modality_lut, then the frame's own range stretched to 0..255.
"""
import sys

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, apply_modality_lut

mode, path = sys.argv[1:3]
ds = pydicom.dcmread(path, force=True)
arr = ds.pixel_array
if getattr(ds, "NumberOfFrames", 1) not in (None, 1):
    arr = arr[0]
if mode == "palette":
    rgb = apply_color_lut(arr, ds)
    out = (rgb >> 8).astype(np.uint8) if rgb.dtype == np.uint16 else rgb.astype(np.uint8)
else:
    values = apply_modality_lut(arr, ds).astype(np.float64)
    lo, hi = values.min(), values.max()
    out = np.clip(np.round((values - lo) / max(hi - lo, 1e-9) * 255), 0, 255).astype(np.uint8)
sys.stdout.buffer.write(out.tobytes())
