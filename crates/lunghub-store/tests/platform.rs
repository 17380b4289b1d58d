//! The web platform's records on SQLite and on a real PostgreSQL (LUNGHUB_TEST_POSTGRES_URL,
//! started by `.ci/run`).

use lunghub_store::platform::{InstituteFields, NewAccount};
use lunghub_store::{Catalog, Platform, StoreError};

async fn exercise(platform: Platform) {
    // Accounts: one per email, whatever its case.
    let new = NewAccount {
        email: "Ada@Example.org".into(),
        name: "Ada".into(),
        role: "data-scientist".into(),
        profile: "{}".into(),
        ..Default::default()
    };
    let ada = platform.create_account(&new).await.expect("create");
    assert_eq!(ada.email, "ada@example.org");
    assert!(!ada.confirmed);
    let again = NewAccount {
        email: "ada@example.org".into(),
        ..new.clone()
    };
    assert!(matches!(
        platform.create_account(&again).await,
        Err(StoreError::Conflict(_))
    ));
    platform.confirm_account(&ada.id).await.expect("confirm");
    assert!(
        platform
            .account_by_email("ADA@example.org")
            .await
            .expect("by email")
            .expect("found")
            .confirmed
    );
    assert!(matches!(
        platform.set_role("nobody", "admin", None).await,
        Err(StoreError::NotFound(_))
    ));

    // One-time tokens work once, and not for another purpose.
    platform
        .create_token("h1", "confirm", &ada.id, i64::MAX)
        .await
        .expect("token");
    assert_eq!(
        platform.take_token("h1", "reset").await.expect("take"),
        None
    );
    assert_eq!(
        platform.take_token("h1", "confirm").await.expect("take"),
        Some(ada.id.clone())
    );
    assert_eq!(
        platform.take_token("h1", "confirm").await.expect("take"),
        None
    );
    platform
        .create_token("h2", "confirm", &ada.id, 1)
        .await
        .expect("expired token");
    assert_eq!(
        platform.take_token("h2", "confirm").await.expect("take"),
        None
    );

    // Sessions.
    platform
        .create_session("s1", &ada.id, i64::MAX)
        .await
        .expect("session");
    assert_eq!(
        platform
            .session_account("s1")
            .await
            .expect("session")
            .map(|a| a.id),
        Some(ada.id.clone())
    );
    platform.delete_sessions_of(&ada.id).await.expect("end");
    assert_eq!(platform.session_account("s1").await.expect("session"), None);

    // Subscribers.
    assert!(
        platform
            .subscribe("Reader@example.org", "u1")
            .await
            .expect("subscribe")
    );
    platform
        .confirm_subscriber("reader@example.org")
        .await
        .expect("confirm");
    assert!(
        !platform
            .subscribe("reader@example.org", "u2")
            .await
            .expect("twice")
    );
    assert_eq!(
        platform.active_subscribers().await.expect("list"),
        vec!["reader@example.org"]
    );
    assert_eq!(
        platform.unsubscribe("u1").await.expect("unsubscribe"),
        Some("reader@example.org".into())
    );
    assert!(
        platform
            .active_subscribers()
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(platform.unsubscribe("nope").await.expect("unknown"), None);

    // Institutes: a stage move that raced with another is refused and changes nothing.
    let fields = InstituteFields {
        name: "Ospedale San Raffaele".into(),
        location: "Milan, Italy".into(),
        requested_data: vec!["xray-covid".into(), "ultrasound-lung".into()],
        ethics_required: true,
        ..Default::default()
    };
    let inst = platform
        .create_institute(&fields, "first-contact", "ada@example.org")
        .await
        .expect("institute");
    assert_eq!(inst.requested_data, vec!["xray-covid", "ultrasound-lung"]);
    assert!(matches!(
        platform
            .create_institute(&fields, "first-contact", "x")
            .await,
        Err(StoreError::Conflict(_))
    ));
    platform
        .move_institute(
            &inst.id,
            "first-contact",
            "introductory-call",
            true,
            "ada@example.org",
            "called",
        )
        .await
        .expect("move");
    let stale = platform
        .move_institute(
            &inst.id,
            "first-contact",
            "introductory-call",
            true,
            "bob",
            "late",
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))));
    let history = platform.history(&inst.id).await.expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].to_stage.as_deref(), Some("introductory-call"));
    assert_eq!(history[1].note, "called");
    assert_eq!(
        platform
            .institute(&inst.id)
            .await
            .expect("get")
            .expect("found")
            .stage,
        "introductory-call"
    );

    // The five working tracks are there from the start.
    let tracks = platform.tracks().await.expect("tracks");
    assert_eq!(tracks.len(), 5);
    assert_eq!(tracks[0].coordinator, None);
    platform
        .join_track("medical-imaging", &ada.id, "member")
        .await
        .expect("join");
    platform
        .join_track("medical-imaging", &ada.id, "member")
        .await
        .expect("join twice");
    assert!(matches!(
        platform.join_track("astrology", &ada.id, "member").await,
        Err(StoreError::NotFound(_))
    ));
    platform
        .set_track_coordinator("medical-imaging", Some(&ada.id))
        .await
        .expect("coordinator");
    let tracks = platform.tracks().await.expect("tracks");
    assert_eq!(
        (tracks[0].coordinator.as_deref(), tracks[0].members),
        (Some("Ada"), 1)
    );
}

#[tokio::test]
async fn the_platform_records_work_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    exercise(
        Catalog::open(&Catalog::sqlite_url(dir.path()))
            .await
            .expect("open")
            .platform(),
    )
    .await;
}

#[tokio::test]
async fn the_platform_records_work_on_postgres() {
    let admin = std::env::var("LUNGHUB_TEST_POSTGRES_URL")
        .expect("LUNGHUB_TEST_POSTGRES_URL is not set: run the tests through `bash .ci/run`, which starts PostgreSQL");
    let url = lunghub_store::testing::fresh_postgres_database(&admin)
        .await
        .expect("fresh database");
    exercise(Catalog::open(&url).await.expect("open").platform()).await;
}
