//! Croissant 1.0 (MLCommons) metadata for a release: the files, the record sets and the
//! splits, in JSON-LD. Keys come out sorted (serde_json's map), so the text is the same
//! for the same release.

use serde_json::{Value, json};

use crate::plan::Plan;

/// The columns of `metadata.csv` and `test.csv` that the record sets describe.
const COLUMNS: [(&str, &str, &str); 9] = [
    ("patientid", "sc:Text", "Keyed pseudonym of the patient"),
    ("sex", "sc:Text", "M, F, or empty when not recorded"),
    (
        "age",
        "sc:Integer",
        "Age in whole years; 90 means 90 or older",
    ),
    (
        "view",
        "sc:Text",
        "Projection (PA, AP, AP Supine, Lateral…)",
    ),
    ("modality", "sc:Text", "X-ray, CT or US"),
    (
        "site",
        "sc:Text",
        "The hospital or collection that sent the image",
    ),
    (
        "source",
        "sc:Text",
        "The source dataset, or the site when it has none",
    ),
    (
        "item_id",
        "sc:Text",
        "sha256 of the de-identified original in lunghub's catalog",
    ),
    (
        "offset",
        "sc:Integer",
        "Days since symptom onset, when known",
    ),
];

pub fn jsonld(plan: &Plan, metadata_sha256: &str, test_sha256: &str) -> String {
    let s = &plan.settings;
    let mut licences: Vec<String> = s
        .licences
        .iter()
        .map(|(source, licence)| format!("{source}: {licence}"))
        .collect();
    if licences.is_empty() {
        licences.push("Not stated: see README.md".into());
    }
    let column = |set: &str, file: &str, name: &str, ty: &str, about: &str| {
        json!({
            "@type": "cr:Field",
            "@id": format!("{set}/{name}"),
            "name": name,
            "description": about,
            "dataType": ty,
            "source": {"fileObject": {"@id": file}, "extract": {"column": name}},
        })
    };
    let mut labelled = vec![
        json!({
            "@type": "cr:Field",
            "@id": "labelled/filename",
            "name": "filename",
            "description": "The image's file name in images/",
            "dataType": "sc:Text",
            "source": {"fileObject": {"@id": "metadata.csv"}, "extract": {"column": "filename"}},
            "references": {"field": {"@id": "images/filename"}},
        }),
        column(
            "labelled",
            "metadata.csv",
            "finding",
            "sc:Text",
            "Finding, as a path of the hierarchy (Pneumonia/Viral/COVID-19, No Finding…)",
        ),
        json!({
            "@type": "cr:Field",
            "@id": "labelled/split",
            "name": "split",
            "description": "train or validation",
            "dataType": "sc:Text",
            "source": {"fileObject": {"@id": "metadata.csv"}, "extract": {"column": "split"}},
            "references": {"field": {"@id": "splits/name"}},
        }),
    ];
    let mut test = vec![json!({
        "@type": "cr:Field",
        "@id": "test/filename",
        "name": "filename",
        "description": "The image's file name in images/; its finding is sequestered",
        "dataType": "sc:Text",
        "source": {"fileObject": {"@id": "test.csv"}, "extract": {"column": "filename"}},
        "references": {"field": {"@id": "images/filename"}},
    })];
    for (name, ty, about) in COLUMNS {
        // Integers may be empty; Croissant reads an empty cell as text, so they are text here.
        let ty = if ty == "sc:Integer" { "sc:Text" } else { ty };
        labelled.push(column("labelled", "metadata.csv", name, ty, about));
        test.push(column("test", "test.csv", name, ty, about));
    }
    let doc = json!({
        "@context": context(),
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": s.name,
        "version": format!("{}.0.0", s.version),
        "description": format!(
            "{} chest images released by lunghub, split by patient into train, validation and test \
             (seed {}). Test findings are sequestered. See README.md for the dataset card.",
            plan.entries.len(),
            s.seed
        ),
        "license": licences,
        "url": "README.md",
        "citeAs": format!("lunghub release {} v{}", s.name, s.version),
        "distribution": [
            {
                "@type": "cr:FileObject",
                "@id": "metadata.csv",
                "name": "metadata.csv",
                "description": "Train and validation images with their findings",
                "contentUrl": "metadata.csv",
                "encodingFormat": "text/csv",
                "sha256": metadata_sha256,
            },
            {
                "@type": "cr:FileObject",
                "@id": "test.csv",
                "name": "test.csv",
                "description": "Test images, findings sequestered",
                "contentUrl": "test.csv",
                "encodingFormat": "text/csv",
                "sha256": test_sha256,
            },
            {
                "@type": "cr:FileSet",
                "@id": "image-files",
                "name": "image-files",
                "description": "Every image, 8-bit PNG",
                "encodingFormat": "image/png",
                "includes": "images/*.png",
            },
        ],
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "splits",
                "name": "splits",
                "description": "The splits of the release",
                "dataType": "cr:Split",
                "key": {"@id": "splits/name"},
                "field": [{
                    "@type": "cr:Field",
                    "@id": "splits/name",
                    "name": "name",
                    "dataType": "sc:Text",
                }],
                "data": [
                    {"splits/name": "train"},
                    {"splits/name": "validation"},
                    {"splits/name": "test"},
                ],
            },
            {
                "@type": "cr:RecordSet",
                "@id": "images",
                "name": "images",
                "description": "Every image: its file name and its pixels",
                "key": {"@id": "images/filename"},
                "field": [
                    {
                        "@type": "cr:Field",
                        "@id": "images/filename",
                        "name": "filename",
                        "dataType": "sc:Text",
                        "source": {
                            "fileSet": {"@id": "image-files"},
                            "extract": {"fileProperty": "filename"},
                        },
                    },
                    {
                        "@type": "cr:Field",
                        "@id": "images/image",
                        "name": "image",
                        "dataType": "sc:ImageObject",
                        "source": {
                            "fileSet": {"@id": "image-files"},
                            "extract": {"fileProperty": "content"},
                        },
                    },
                ],
            },
            {
                "@type": "cr:RecordSet",
                "@id": "labelled",
                "name": "labelled",
                "description": "Train and validation images with their findings",
                "field": labelled,
            },
            {
                "@type": "cr:RecordSet",
                "@id": "test",
                "name": "test",
                "description": "Test images; findings sequestered",
                "field": test,
            },
        ],
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// The Croissant 1.0 context, as the specification gives it.
fn context() -> Value {
    json!({
        "@language": "en",
        "@vocab": "https://schema.org/",
        "citeAs": "cr:citeAs",
        "column": "cr:column",
        "conformsTo": "dct:conformsTo",
        "cr": "http://mlcommons.org/croissant/",
        "rai": "http://mlcommons.org/croissant/RAI/",
        "data": {"@id": "cr:data", "@type": "@json"},
        "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
        "dct": "http://purl.org/dc/terms/",
        "equivalentProperty": "cr:equivalentProperty",
        "examples": {"@id": "cr:examples", "@type": "@json"},
        "extract": "cr:extract",
        "field": "cr:field",
        "fileProperty": "cr:fileProperty",
        "fileObject": "cr:fileObject",
        "fileSet": "cr:fileSet",
        "format": "cr:format",
        "includes": "cr:includes",
        "isLiveDataset": "cr:isLiveDataset",
        "jsonPath": "cr:jsonPath",
        "key": "cr:key",
        "md5": "cr:md5",
        "parentField": "cr:parentField",
        "path": "cr:path",
        "recordSet": "cr:recordSet",
        "references": "cr:references",
        "regex": "cr:regex",
        "repeated": "cr:repeated",
        "replace": "cr:replace",
        "samplingRate": "cr:samplingRate",
        "sc": "https://schema.org/",
        "separator": "cr:separator",
        "source": "cr:source",
        "subField": "cr:subField",
        "transform": "cr:transform",
    })
}
