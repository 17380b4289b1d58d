//! Sites and their API tokens on SQLite and on a real PostgreSQL
//! (LUNGHUB_TEST_POSTGRES_URL, started by `.ci/run`).

use lunghub_store::{Catalog, StoreError};

async fn exercise(catalog: Catalog) {
    let platform = catalog.platform();
    let site = catalog.ensure_site("Hôpital Nord").await.expect("site");
    catalog.ensure_site("Azur Clinic").await.expect("site");
    let names: Vec<String> = catalog
        .sites()
        .await
        .expect("sites")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["Azur Clinic", "Hôpital Nord"]);

    assert!(matches!(
        platform
            .create_site_token("h0", "no-such-site", "x", "admin")
            .await,
        Err(StoreError::NotFound(_))
    ));
    platform
        .create_site_token("h1", &site, "PACS router", "admin")
        .await
        .expect("token");
    platform
        .create_site_token("h2", &site, "Laptop", "admin")
        .await
        .expect("token");
    assert_eq!(platform.site_tokens(&site).await.expect("list").len(), 2);
    assert_eq!(platform.site_tokens("azur-clinic").await.expect("list"), []);

    // Using a token names its site and notes the time; an unknown token names nothing.
    assert_eq!(
        platform.use_site_token("h1").await.expect("use").as_deref(),
        Some(site.as_str())
    );
    assert_eq!(platform.use_site_token("nope").await.expect("use"), None);
    let h1 = platform
        .site_tokens(&site)
        .await
        .expect("list")
        .into_iter()
        .find(|t| t.token_hash == "h1")
        .expect("h1");
    assert!(h1.last_used_at.is_some() && h1.revoked_at.is_none());
    assert_eq!(
        (h1.label.as_str(), h1.created_by.as_str()),
        ("PACS router", "admin")
    );

    // Revoked is revoked for good, and only by its own site.
    assert!(
        !platform
            .revoke_site_token("h1", "azur-clinic")
            .await
            .expect("revoke")
    );
    assert!(
        platform
            .revoke_site_token("h1", &site)
            .await
            .expect("revoke")
    );
    assert!(
        !platform
            .revoke_site_token("h1", &site)
            .await
            .expect("again")
    );
    assert_eq!(platform.use_site_token("h1").await.expect("use"), None);
    assert_eq!(
        platform.use_site_token("h2").await.expect("use").as_deref(),
        Some(site.as_str())
    );
}

#[tokio::test]
async fn site_tokens_work_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    exercise(
        Catalog::open(&Catalog::sqlite_url(dir.path()))
            .await
            .expect("open"),
    )
    .await;
}

#[tokio::test]
async fn site_tokens_work_on_postgres() {
    let admin = std::env::var("LUNGHUB_TEST_POSTGRES_URL")
        .expect("LUNGHUB_TEST_POSTGRES_URL is not set: run the tests through `bash .ci/run`, which starts PostgreSQL");
    let url = lunghub_store::testing::fresh_postgres_database(&admin)
        .await
        .expect("fresh database");
    exercise(Catalog::open(&url).await.expect("open")).await;
}
