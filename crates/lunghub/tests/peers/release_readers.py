"""Loads a lunghub release with the real readers of each export and prints what they saw,
as one JSON object, for tests/release_readers.rs to compare with the release's own CSVs.

    release_readers.py RELEASE_DIR

Any reader that fails raises: the test then fails with this script's traceback.
"""

import collections
import json
import os
import sys
import warnings

release = sys.argv[1]
seen = {}

# torchxrayvision's loader for the COVID-19 image data collection, on metadata.csv.
import torchxrayvision as xrv

d = xrv.datasets.COVID19_Dataset(
    imgpath=os.path.join(release, "images"),
    csvpath=os.path.join(release, "metadata.csv"),
    views=["*"],
)
first = d[0]
seen["torchxrayvision"] = {
    "count": len(d),
    "pathologies": list(d.pathologies),
    "positives": {p: int(n) for p, n in zip(d.pathologies, d.labels.sum(0))},
    "first_shape": list(first["img"].shape),
    "first_range": [float(first["img"].min()), float(first["img"].max())],
    "first_file": str(d.csv["filename"].iloc[0]),
}

# Hugging Face datasets, ImageFolder with one metadata.csv per split.
import datasets

datasets.disable_progress_bars()
ds = datasets.load_dataset(
    "imagefolder",
    data_dir=os.path.join(release, "imagefolder"),
    cache_dir=os.path.join(os.environ.get("HF_TEST_CACHE", release + ".hf-cache")),
)
seen["imagefolder"] = {
    split: {
        "count": ds[split].num_rows,
        "findings": dict(collections.Counter(ds[split]["finding"])),
        "columns": sorted(ds[split].column_names),
        "first_mode": ds[split][0]["image"].mode,
    }
    for split in ds
}

# COVIDx label files, parsed the way COVID-Net's data generator does: split on spaces,
# second field the file, third the class; every file must be in images/.
covidx = {}
for name in ["train.txt", "val.txt"]:
    labels = collections.Counter()
    missing = 0
    with open(os.path.join(release, "covidx", name)) as f:
        for line in f:
            fields = line.split()
            assert len(fields) == 4, f"{name}: {line!r} has {len(fields)} fields, not 4"
            assert fields[2] in ("normal", "pneumonia", "COVID-19"), fields[2]
            labels[fields[2]] += 1
            missing += not os.path.isfile(os.path.join(release, "images", fields[1]))
    covidx[name] = {"labels": dict(labels), "missing_images": missing}
seen["covidx"] = covidx

# Croissant: validate, then read every record set.
import mlcroissant as mlc

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    dataset = mlc.Dataset(os.path.join(release, "croissant.json"))
labelled = collections.Counter()
for r in dataset.records(record_set="labelled"):
    labelled[(r["labelled/split"].decode(), r["labelled/finding"].decode())] += 1
test = sum(1 for _ in dataset.records(record_set="test"))
splits = sorted(r["splits/name"] for r in mlc.Dataset(os.path.join(release, "croissant.json")).records(record_set="splits"))
image = next(iter(mlc.Dataset(os.path.join(release, "croissant.json")).records(record_set="images")))
seen["croissant"] = {
    "labelled": {f"{s}|{f}": n for (s, f), n in sorted(labelled.items())},
    "test": test,
    "splits": [s.decode() if isinstance(s, bytes) else s for s in splits],
    "image_mode": image["images/image"].mode,
}

# The DICOM originals through their DICOMDIR, with pydicom's FileSet.
dicomdir = os.path.join(release, "dicom", "DICOMDIR")
if os.path.exists(dicomdir):
    import pydicom
    from pydicom.fileset import FileSet

    fs = FileSet(pydicom.dcmread(dicomdir))
    loaded = [i.load() for i in fs]
    seen["dicom"] = {
        "instances": len(loaded),
        "patients": len({ds.PatientID for ds in loaded}),
        "identity_removed": sorted({str(ds.get("PatientIdentityRemoved", "")) for ds in loaded}),
        "names": sorted({str(ds.get("PatientName", "")) for ds in loaded}),
    }

print(json.dumps(seen, sort_keys=True))
