//! "Try the model" and /api/predict on a real `lunghub serve`: only clinicians may score
//! images; a radiograph gets probabilities, a decision, the operating point and a heatmap
//! under a disclaimer; junk and clips get a clear refusal; the JSON API says what the page
//! says and what `lunghub predict` says; nothing uploaded is kept.

mod common;

use common::accounts::sign_up;
use common::fixtures::chest_dx;
use common::server::Server;
use common::{lunghub, run_ok, shared_data};

fn files_under(dir: &std::path::Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn only_clinicians_score_images_and_get_a_decision_with_a_heatmap() {
    let server = Server::start(None);
    let anonymous = server.client();
    let r = anonymous.get("/model").await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/signin?next=/model"))
    );
    assert_eq!(anonymous.get("/api/predict").await.status, 401);
    // The model card is public.
    let card = anonymous.get("/model/card").await;
    assert_eq!(card.status, 200);
    assert!(
        card.body.contains("not a diagnostic device"),
        "{}",
        card.body
    );

    // A data scientist is not a clinician.
    let scientist = sign_up(
        &server,
        "data-scientist",
        "Dana Scientist",
        "dana@example.org",
        &[],
    )
    .await;
    assert_eq!(scientist.get("/model").await.status, 403);
    assert!(
        !scientist
            .get("/account")
            .await
            .body
            .contains("href=\"/model\"")
    );
    let csrf = scientist.csrf();
    let png = std::fs::read(shared_data("cxr-radiographydb-dev/images/COVID-1.png")).expect("png");
    assert_eq!(
        scientist
            .post_bytes("/api/predict", png.clone(), &csrf)
            .await
            .status,
        403
    );

    let doctor = sign_up(
        &server,
        "frontline-doctor",
        "Dr Test",
        "doctor@example.org",
        &[
            ("institution", "Policlinico di Test"),
            ("location", "Pavia"),
        ],
    )
    .await;
    let page = doctor.get("/model").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("not a diagnostic device"));
    assert!(page.body.contains("href=\"/model\""), "the menu offers it");
    let blobs_before = files_under(&server.data_dir);

    let form = |bytes: Vec<u8>, name: &str| {
        reqwest::multipart::Form::new().part(
            "image",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        )
    };
    let action = format!("/model?csrf={}", doctor.csrf());
    let r = doctor
        .post_multipart(&action, form(png.clone(), "COVID-1.png"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("The model's call"), "{}", r.body);
    assert!(
        r.body
            .contains("id=\"heatmap\" src=\"data:image/png;base64,")
    );
    assert!(r.body.contains("Not a diagnosis."));
    assert!(
        r.body
            .contains("COVID-19 is called when its probability reaches")
    );

    let r = doctor
        .post_multipart(&action, form(b"not an image at all".to_vec(), "notes.txt"))
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("could not be read as a DICOM, PNG or JPEG image"),
        "{}",
        r.body
    );
    let clip = std::fs::read(shared_data(
        "lus-pocus-dev/pocus_videos/convex/Reg-NormalLungs.mp4",
    ))
    .expect("clip");
    let r = doctor
        .post_multipart(&action, form(clip, "lungs.mp4"))
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("video clip"), "{}", r.body);

    // The JSON API: the description carries the CSRF token a POST needs.
    let described: serde_json::Value =
        serde_json::from_str(&doctor.get("/api/predict").await.body).expect("JSON");
    assert_eq!(
        described["classes"],
        serde_json::json!(["rest", "COVID-19"])
    );
    let token = described["csrf"].as_str().expect("a CSRF token").to_owned();
    assert_eq!(
        doctor
            .post_bytes("/api/predict", png.clone(), "wrong")
            .await
            .status,
        403,
        "a POST without the right CSRF token is refused"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let dicom = chest_dx(
        "1.2.826.0.1.3680043.8.498.91",
        "1.2.826.0.1.3680043.8.498.91.1",
        5,
        256,
    );
    let dicom_path = tmp.path().join("chest.dcm");
    std::fs::write(&dicom_path, &dicom).expect("write");
    let r = doctor.post_bytes("/api/predict", dicom, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let scored: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
    assert!(
        scored["heatmap_png"]
            .as_str()
            .is_some_and(|h| h.starts_with("data:image/png;base64,"))
    );
    let cli = run_ok(lunghub().args(["predict", "--json"]).arg(&dicom_path));
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).expect("JSON line");
    assert_eq!(scored["decision"], cli["decision"]);
    for class in ["rest", "COVID-19"] {
        let (a, b) = (
            scored["probabilities"][class]
                .as_f64()
                .expect("web probability"),
            cli["probabilities"][class]
                .as_f64()
                .expect("CLI probability"),
        );
        assert!((a - b).abs() < 1e-6, "{class}: web {a}, CLI {b}");
    }
    let r = doctor
        .post_bytes("/api/predict", b"junk".to_vec(), &token)
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("\"error\""), "{}", r.body);

    // Nothing tried was kept.
    assert_eq!(files_under(&server.data_dir), blobs_before);
}
