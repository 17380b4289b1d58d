//! The site in Italian and English, through the real `lunghub serve`:
//!
//! - The browser's `Accept-Language` chooses, by its weights; a language we do not have
//!   gets English.
//! - The header's switch sets a cookie and comes back to the page it was used on; a
//!   signed-in person's choice is kept with the account and follows them to a new browser.
//! - Switched to Italian, every public page has `html lang="it"` and none of the site's
//!   English texts, nor the small words of English prose; the status table keeps its five
//!   columns and names its stages in Italian, with Italian dates.
//! - Mail is written in the language it was asked for in: an Italian subscription's
//!   confirmation and its news, beside an English subscriber's.

mod common;

use common::accounts::{PASSWORD, admin, hospital, set_role, sign_in, sign_up};
use common::english::{PUBLIC_PAGES, english_left, visible_text};
use common::server::{Client, Server};
use lunghub_web::i18n::Lang;

const ITALIAN_BROWSER: (&str, &str) = ("accept-language", "it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7");

fn lang_of(html: &str) -> &str {
    html.split("<html lang=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
}

/// Every public page as `c` gets it now: Italian, with no English left.
async fn all_public_pages_are_italian(c: &Client) {
    for path in PUBLIC_PAGES {
        let r = c.get(path).await;
        assert!(
            r.status == 200 || (*path == "/no-such-page" && r.status == 404),
            "{path}: {}",
            r.status
        );
        assert_eq!(lang_of(&r.body), "it", "{path} is not marked Italian");
        let text = visible_text(&r.body);
        let left = english_left(&text);
        assert!(left.is_empty(), "English on {path}: {left:#?}\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_site_speaks_italian_to_those_who_ask_for_it() {
    // The checker itself: it finds the site's English and lets Italian be.
    assert!(!english_left("Open medical imaging against COVID-19").is_empty());
    assert!(!english_left("Send me the data").is_empty());
    assert!(english_left("Imaging medico aperto contro la COVID-19 · Dataset · Email").is_empty());

    let server = Server::start(None);
    let admin = admin(&server).await;
    let (_, site) = hospital(&admin, "Ospedale di Prova", "waiting-for-data").await;

    // The browser chooses, by weight; English is the fallback.
    let visitor = server.client();
    let r = visitor.get_with("/", &[ITALIAN_BROWSER]).await;
    assert_eq!(lang_of(&r.body), "it");
    assert!(r.body.contains(&Lang::It.t("home-title")), "{}", r.body);
    let r = visitor
        .get_with("/", &[("accept-language", "en;q=0.2, it;q=0.8")])
        .await;
    assert_eq!(lang_of(&r.body), "it", "weights, not order, decide");
    let r = visitor
        .get_with("/", &[("accept-language", "de-DE,de;q=0.9")])
        .await;
    assert_eq!(lang_of(&r.body), "en");
    assert!(r.body.contains("Open medical imaging against COVID-19"));
    assert_eq!(lang_of(&visitor.get("/").await.body), "en");

    // The switch: a cookie, and back where it was used; only to this site.
    let r = visitor
        .post("/lang", &[("lang", "it"), ("back", "/status")])
        .await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/status")));
    assert!(
        r.set_cookies
            .iter()
            .any(|c| c.starts_with("lunghub_lang=it;")),
        "{:?}",
        r.set_cookies
    );
    for away in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let r = visitor
            .post("/lang", &[("lang", "it"), ("back", away)])
            .await;
        assert_eq!(r.location.as_deref(), Some("/"), "back to {away}");
    }
    assert_eq!(
        visitor
            .post("/lang", &[("lang", "fr"), ("back", "/")])
            .await
            .status,
        400
    );
    all_public_pages_are_italian(&visitor).await;

    // The status table keeps its columns, in Italian, with Italian stages and dates.
    let status = visitor.get("/status").await.body;
    for id in [
        "status-col-institute",
        "status-col-location",
        "status-col-requested",
        "status-col-status",
        "status-col-updated",
        "stage-waiting-for-data",
        "requested-xray-covid",
    ] {
        assert!(status.contains(&Lang::It.t(id)), "{id} missing:\n{status}");
    }
    assert_eq!(status.matches("<th scope=\"col\">").count(), 5);
    let month_of_now = Lang::It.long_date(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos(),
        )
        .expect("time"),
    );
    let month = month_of_now.split(' ').nth(1).expect("a month");
    assert!(
        status.contains(month),
        "no Italian date ({month}):\n{status}"
    );
    // The other language's visitors get their own copy of the cached table.
    let english = server.client().get("/status").await.body;
    assert_eq!(lang_of(&english), "en");
    assert!(english.contains("Waiting for data"));

    // Mail in the language it was asked in.
    let (italian, english_reader) = ("lettrice@example.it", "reader@example.org");
    let r = visitor.post("/subscribe", &[("email", italian)]).await;
    assert!(r.body.contains(&Lang::It.t("check-email")), "{}", r.body);
    let mail = common::readable_mail(&server.last_mail_to(italian).await);
    assert!(
        mail.contains("Subject: Conferma la tua iscrizione a lunghub"),
        "{mail}"
    );
    assert!(mail.contains("Conferma che vuoi ricevere"), "{mail}");
    let r = visitor
        .get(&server.link_in_mail(italian, "/subscribe/confirm/").await)
        .await;
    assert!(
        r.body.contains(&Lang::It.t("subscribed-title")),
        "{}",
        r.body
    );
    let reader = server.client();
    reader.get("/subscribe").await;
    reader
        .post("/subscribe", &[("email", english_reader)])
        .await;
    reader
        .get(
            &server
                .link_in_mail(english_reader, "/subscribe/confirm/")
                .await,
        )
        .await;
    admin.get("/coord/news").await;
    let r = admin
        .post(
            "/coord/news",
            &[
                ("title", "Primo dataset"),
                ("body", "Il primo dataset è disponibile."),
            ],
        )
        .await;
    let at = r.location.expect("the draft");
    admin.get(&at).await;
    let r = admin.post(&format!("{at}/publish"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let news = common::readable_mail(&server.last_mail_to(italian).await);
    assert!(news.contains("Leggilo online:"), "{news}");
    assert!(news.contains("Disiscriviti con un clic"), "{news}");
    let news = common::readable_mail(&server.last_mail_to(english_reader).await);
    assert!(news.contains("Read it online:"), "{news}");
    // The published post is on the Italian news page, with an Italian date.
    let page = visitor.get("/news").await.body;
    assert!(
        page.contains("Primo dataset") && page.contains(month),
        "{page}"
    );

    // A signed-in person's choice stays with the account, in a new browser too.
    let member = sign_up(
        &server,
        "data-scientist",
        "Ada Rossi",
        "ada@example.it",
        &[],
    )
    .await;
    assert_eq!(lang_of(&member.get("/account").await.body), "en");
    member
        .post("/lang", &[("lang", "it"), ("back", "/account")])
        .await;
    let elsewhere = server.client();
    sign_in(&elsewhere, "ada@example.it", PASSWORD).await;
    assert_eq!(lang_of(&elsewhere.get("/").await.body), "it");
    all_public_pages_are_italian(&elsewhere).await;
    // A hospital's uploader reads the upload page and its refusals in Italian.
    let uploader = sign_up(
        &server,
        "frontline-doctor",
        "Luca Bianchi",
        "luca@example.it",
        &[("institution", "Ospedale di Prova"), ("location", "Milano")],
    )
    .await;
    set_role(&admin, "luca@example.it", "uploader", &site).await;
    uploader
        .post("/lang", &[("lang", "it"), ("back", "/upload")])
        .await;
    let r = uploader.get("/upload").await;
    assert_eq!((r.status, lang_of(&r.body)), (200, "it"), "{}", r.body);
    let left = english_left(&visible_text(&r.body));
    assert!(left.is_empty(), "English on /upload: {left:#?}");
    let form = reqwest::multipart::Form::new()
        .text("site", site.clone())
        .text("finding", "");
    let r = uploader
        .post_multipart(&format!("/upload/batches?csrf={}", uploader.csrf()), form)
        .await;
    let batch = r.location.unwrap_or_else(|| panic!("no batch: {}", r.body));
    let page = uploader.get(&batch).await;
    assert_eq!(lang_of(&page.body), "it");
    let left = english_left(&visible_text(&page.body));
    assert!(left.is_empty(), "English on the batch page: {left:#?}");
    // A file that is no image: refused, with the reason and the next step in Italian.
    let refused = uploader
        .put_file(
            &format!("{batch}/files"),
            "referto.txt",
            b"just a report".to_vec(),
        )
        .await;
    assert_eq!(refused.status, 200, "{}", refused.body);
    let line = &refused.json()[0];
    assert_eq!(line["cause"], "unknown-format", "{line}");
    assert_eq!(
        line["plain"].as_str(),
        Some(Lang::It.t("cause-unknown-format").as_str()),
        "{line}"
    );
    let page = uploader.get(&batch).await.body;
    assert!(
        page.contains(&Lang::It.t("cause-unknown-format-next")),
        "{page}"
    );
    assert!(
        page.contains(&Lang::It.t("outcome-refused"))
            || page.contains(&Lang::It.t("outcome-unreadable")),
        "{page}"
    );

    // And back to English, for this account alone.
    elsewhere
        .post("/lang", &[("lang", "en"), ("back", "/")])
        .await;
    assert_eq!(lang_of(&member.get("/").await.body), "en");
    assert_eq!(lang_of(&visitor.get("/").await.body), "it");
}
