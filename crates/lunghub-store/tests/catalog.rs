//! The same catalog tests on SQLite and on a real PostgreSQL (started by `.ci/run`, and
//! named by LUNGHUB_TEST_POSTGRES_URL; without it the PostgreSQL tests fail).

use lunghub_store::{Catalog, InsertOutcome, NewItem, ReleaseItem, ReleaseRecord};

fn postgres_admin_url() -> String {
    std::env::var("LUNGHUB_TEST_POSTGRES_URL")
        .expect("LUNGHUB_TEST_POSTGRES_URL is not set: run the tests through `bash .ci/run`, which starts PostgreSQL")
}

fn item(id: &str, site: &str, finding: &str) -> NewItem {
    NewItem {
        id: id.into(),
        site_id: site.into(),
        patient_id: format!("LH-{id}"),
        study_id: format!("study-{id}"),
        series_id: format!("series-{id}"),
        kind: "png".into(),
        modality: "DX".into(),
        view: Some("PA".into()),
        bytes: 1234,
        age_years: Some(54.5),
        route: "folder".into(),
        source_dataset: Some("test".into()),
        tool_version: "0.1.0".into(),
        deid_profile: "default".into(),
        review_state: "pending".into(),
        labels: vec![(
            finding.into(),
            finding != "Alien",
            "metadata".into(),
            "import".into(),
        )],
        perceptual_hash: Some("00ff00ff00ff00ff".into()),
        ..NewItem::default()
    }
}

async fn exercise(catalog: Catalog) {
    let site = catalog
        .ensure_site("Hospital  San Raffaele")
        .await
        .expect("site");
    assert_eq!(site, "hospital-san-raffaele");
    assert_eq!(
        catalog
            .ensure_site("Hospital  San Raffaele")
            .await
            .expect("again"),
        site
    );
    let batch = vec![
        item("aaaaaaaa01", &site, "Pneumonia/Viral/COVID-19"),
        item("aaaaaaaa02", &site, "No Finding"),
        item("aaaaaaaa03", &site, "Alien"),
    ];
    let first = catalog.insert_batch(&batch).await.expect("insert");
    assert_eq!(first, vec![InsertOutcome::New; 3]);
    let second = catalog.insert_batch(&batch).await.expect("insert again");
    assert_eq!(second, vec![InsertOutcome::Existing; 3]);

    let s = catalog.summary().await.expect("summary");
    assert_eq!(s.items, 3);
    assert_eq!(s.by_finding.get("Pneumonia/Viral/COVID-19"), Some(&1));
    assert_eq!(s.unknown_findings.get("Alien"), Some(&1));
    assert_eq!(s.by_site.get("Hospital  San Raffaele"), Some(&3));
    assert_eq!(s.by_view.get("PA"), Some(&3));

    let detail = catalog
        .item("aaaaaaaa02")
        .await
        .expect("show")
        .expect("found");
    assert_eq!(detail.fields["age_years"], serde_json::json!(54.5));
    assert_eq!(detail.labels[0].finding, "No Finding");
    assert_eq!(detail.history[0].1, "intake");
    assert!(
        catalog
            .item("aaaaaaaa0")
            .await
            .expect("ambiguous")
            .is_none(),
        "an ambiguous prefix must not pick one"
    );
    assert_eq!(catalog.perceptual_hashes().await.expect("hashes").len(), 3);
    releases(&catalog, &site).await;
}

/// Bulk approval of metadata labels, then a release frozen and read back.
async fn releases(catalog: &Catalog, site: &str) {
    let (approved, waiting) = catalog
        .approve_metadata_labels(site, Some("test"), "cli:tester", "Tester")
        .await
        .expect("approve");
    // The unknown finding ("Alien") is not vouched for: it stays pending.
    assert_eq!((approved, waiting), (2, 0));
    let items = catalog.approved_items().await.expect("approved");
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].finding.as_deref(),
        Some("Pneumonia/Viral/COVID-19")
    );
    assert_eq!(items[0].site_name, "Hospital  San Raffaele");

    let record = ReleaseRecord {
        name: "cxr".into(),
        version: 1,
        created_at: 5,
        created_by: "tester".into(),
        seed: -3,
        shares: "0.7,0.15,0.15".into(),
        filters: "{}".into(),
        licences: "{}".into(),
        files: 9,
        bytes: 1 << 40,
        manifest_sha256: "ab".repeat(32),
    };
    let rows: Vec<ReleaseItem> = items
        .iter()
        .map(|i| ReleaseItem {
            item_id: i.id.clone(),
            patient_id: i.patient_id.clone(),
            split: "test".into(),
            finding: i.finding.clone().unwrap_or_default(),
            file: format!("{}.png", i.id),
        })
        .collect();
    catalog
        .record_release(&record, &rows)
        .await
        .expect("record");
    assert!(matches!(
        catalog.record_release(&record, &rows).await,
        Err(lunghub_store::StoreError::Conflict(_))
    ));
    assert_eq!(
        catalog.release("cxr", None).await.expect("latest"),
        Some(record.clone())
    );
    assert_eq!(catalog.release("cxr", Some(2)).await.expect("none"), None);
    assert_eq!(catalog.releases().await.expect("all"), vec![record]);
    assert_eq!(catalog.release_items("cxr", 1).await.expect("items"), rows);
    let states = catalog
        .review_states(&["aaaaaaaa01".into(), "aaaaaaaa03".into(), "gone".into()])
        .await
        .expect("states");
    assert_eq!(
        states.get("aaaaaaaa01").map(String::as_str),
        Some("approved")
    );
    assert_eq!(
        states.get("aaaaaaaa03").map(String::as_str),
        Some("pending")
    );
    assert!(!states.contains_key("gone"));
}

#[tokio::test]
async fn the_catalog_works_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    exercise(
        Catalog::open(&Catalog::sqlite_url(dir.path()))
            .await
            .expect("open"),
    )
    .await;
    // Reopening runs the migrations again without harm.
    let again = Catalog::open(&Catalog::sqlite_url(dir.path()))
        .await
        .expect("reopen");
    assert_eq!(again.summary().await.expect("summary").items, 3);
}

#[tokio::test]
async fn the_catalog_works_on_postgres() {
    let url = lunghub_store::testing::fresh_postgres_database(&postgres_admin_url())
        .await
        .expect("fresh database");
    exercise(Catalog::open(&url).await.expect("open")).await;
    let again = Catalog::open(&url).await.expect("reopen");
    assert_eq!(again.summary().await.expect("summary").items, 3);
}
