//! News and its mail, through the real `lunghub serve`: a coordinator writes, previews and
//! publishes a post; it is on /news, in an Atom feed that Python's feedparser reads without
//! complaint, and mailed to each confirmed subscriber once, with a one-click unsubscribe
//! (RFC 8058). The mail queue against a real SMTP server (aiosmtpd) that refuses some
//! recipients, stalls others, goes away mid-batch, and a server killed mid-batch.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::accounts::{admin, sign_up};
use common::server::{Client, Server};
use common::smtp::{Behaviour, SmtpPeer, free_port, header};

/// Subscribes `email` and confirms it with the link `confirmation` finds in its mail.
async fn subscribe(c: &Client, email: &str) {
    c.get("/subscribe").await;
    let r = c.post("/subscribe", &[("email", email)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn confirm(c: &Client, link: &str) {
    let r = c.get(link).await;
    assert!(r.body.contains("Subscribed"), "{}", r.body);
}

/// Writes and publishes a post as `coordinator`; returns its id and the answer's text.
async fn publish(coordinator: &Client, title: &str, body: &str) -> (String, String) {
    assert_eq!(coordinator.get("/coord/news").await.status, 200);
    let r = coordinator
        .post("/coord/news", &[("title", title), ("body", body)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let at = r.location.expect("the draft's page");
    let id = at.trim_start_matches("/coord/news/").to_owned();
    coordinator.get(&at).await;
    let r = coordinator
        .post(&format!("/coord/news/{id}/publish"), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (id, r.body)
}

/// Python's feedparser on the feed: the entries' titles and links, or why it complained.
fn feedparser(xml: &str) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("news.atom");
    std::fs::write(&path, xml).expect("write the feed");
    let out = std::process::Command::new(common::python())
        .arg("-c")
        .arg(
            "import feedparser, json, sys\n\
             f = feedparser.parse(open(sys.argv[1], 'rb').read())\n\
             if f.bozo: sys.exit('not well-formed: %r' % (f.bozo_exception,))\n\
             if f.version != 'atom10': sys.exit('not Atom 1.0: %r' % f.version)\n\
             for k in ('id', 'title', 'updated'):\n\
             \x20   if k not in f.feed: sys.exit('the feed has no ' + k)\n\
             for e in f.entries:\n\
             \x20   for k in ('id', 'title', 'updated', 'link', 'content'):\n\
             \x20       if k not in e: sys.exit('an entry has no ' + k)\n\
             print(json.dumps([[e.title, e.link] for e in f.entries]))\n",
        )
        .arg(&path)
        .output()
        .expect("python runs (feedparser is installed by .ci/run)");
    assert!(
        out.status.success(),
        "feedparser refused the feed: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("feedparser's answer")
}

#[tokio::test(flavor = "multi_thread")]
async fn news_is_published_on_the_site_in_the_feed_and_mailed_once() {
    let server = Server::start(None);
    let coordinator = admin(&server).await;
    let anonymous = server.client();
    for who in ["ann@example.org", "bruno@example.org"] {
        subscribe(&anonymous, who).await;
        confirm(
            &anonymous,
            &server.link_in_mail(who, "/subscribe/confirm/").await,
        )
        .await;
    }
    // Subscribed, never confirmed: gets no news.
    subscribe(&anonymous, "carla@example.org").await;

    // Only those who may publish reach the desk.
    let developer = sign_up(
        &server,
        "developer",
        "Dev",
        "dev@example.org",
        &[("skills", "Rust")],
    )
    .await;
    assert_eq!(developer.get("/coord/news").await.status, 403);
    assert_eq!(
        anonymous.get("/coord/news").await.status,
        303,
        "sent to sign in"
    );

    // A draft, with what a post must not do in it.
    coordinator.get("/coord/news").await;
    let text = "The first **release** is out.\n\n<script>alert(1)</script>\n\n[a trap](javascript:alert(1)) and [the data](https://example.org/data).";
    let r = coordinator
        .post(
            "/coord/news",
            &[("title", "Release 1 & more <soon>"), ("body", text)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let draft = r.location.expect("the draft's page");
    let id = draft.trim_start_matches("/coord/news/").to_owned();
    let page = coordinator.get(&draft).await.body;
    assert!(page.contains("Publish and mail 2 subscribers"), "{page}");
    let preview = page
        .split_once("<h2>Preview</h2>")
        .map(|(_, p)| p.to_owned())
        .expect("a preview");
    assert!(preview.contains("<strong>release</strong>"), "{preview}");
    assert!(preview.contains("&lt;script&gt;"), "{preview}");
    assert!(!preview.contains("<script>alert"), "{preview}");
    assert!(!preview.contains("javascript:alert"), "{preview}");
    assert!(
        preview.contains("<a href=\"https://example.org/data\">the data</a>"),
        "{preview}"
    );
    assert_eq!(
        anonymous.get(&format!("/news/{id}")).await.status,
        404,
        "a draft is not public"
    );
    assert!(!anonymous.get("/news").await.body.contains("Release 1"));

    // An empty title is refused in words.
    let r = coordinator
        .post(&draft, &[("title", " "), ("body", "x")])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("The title is required"), "{}", r.body);

    coordinator.get(&draft).await;
    let r = coordinator
        .post(&format!("/coord/news/{id}/publish"), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("2 mails"), "{}", r.body);
    let r = coordinator
        .post(&format!("/coord/news/{id}/publish"), &[])
        .await;
    assert_eq!(r.status, 409, "published once: {}", r.body);

    // On the site and in the feed.
    let news = anonymous.get("/news").await.body;
    assert!(news.contains("Release 1 &amp; more &lt;soon&gt;"), "{news}");
    let feed = anonymous.get("/news.atom").await;
    assert!(
        feed.content_type.starts_with("application/atom+xml"),
        "{}",
        feed.content_type
    );
    assert_eq!(
        feedparser(&feed.body),
        vec![(
            "Release 1 & more <soon>".to_owned(),
            format!("{}/news/{id}", server.base)
        )]
    );

    // Mailed once to each confirmed subscriber, with the headers of RFC 8058.
    let mails = server.mails_to("ann@example.org").await;
    let post: Vec<_> = mails
        .iter()
        .filter(|m| m.contains("Subject: Release 1"))
        .collect();
    assert_eq!(post.len(), 1, "{mails:?}");
    let mail = post[0];
    let one_click = header(mail, "List-Unsubscribe").expect("List-Unsubscribe");
    assert_eq!(
        header(mail, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let one_click = one_click
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned();
    assert!(
        one_click.starts_with(&format!("{}/unsubscribe/", server.base)),
        "{one_click}"
    );
    assert!(
        mail.contains(&format!("{}/news/{id}", server.base)),
        "{mail}"
    );
    assert!(
        server
            .mails_to("carla@example.org")
            .await
            .iter()
            .all(|m| !m.contains("Subject: Release 1")),
        "an unconfirmed address gets no news"
    );

    // The mail client's one click: a POST with no session and no CSRF token.
    assert_eq!(common::smtp::one_click_unsubscribe(&one_click).await, 200);

    // The next post reaches only Bruno.
    let (_, answer) = publish(&coordinator, "Second post", "More news.").await;
    assert!(answer.contains("1 mail "), "{answer}");
    assert!(
        server
            .mails_to("ann@example.org")
            .await
            .iter()
            .all(|m| !m.contains("Subject: Second post"))
    );
    assert_eq!(
        server
            .mails_to("bruno@example.org")
            .await
            .iter()
            .filter(|m| m.contains("Subject: Second post"))
            .count(),
        1
    );
    let titles: Vec<_> = feedparser(&anonymous.get("/news.atom").await.body)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(titles, ["Second post", "Release 1 & more <soon>"]);
}

/// Waits up to 120 s for `done`.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many copies of the post titled `subject` each address got, and whether each
/// address's copies share one Message-ID.
fn copies(smtp: &SmtpPeer, subject: &str) -> BTreeMap<String, (usize, bool)> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in smtp.received() {
        if header(&m, "Subject").as_deref() == Some(subject) {
            by.entry(header(&m, "To").unwrap_or_default())
                .or_default()
                .push(header(&m, "Message-ID").unwrap_or_default());
        }
    }
    by.into_iter()
        .map(|(to, ids)| {
            let same = ids.iter().all(|i| *i == ids[0]);
            (to, (ids.len(), same))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn news_mail_survives_refusals_a_vanishing_smtp_server_and_a_kill() {
    let maildir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut smtp = SmtpPeer::start_on(
        port,
        maildir.path(),
        Behaviour {
            vanish_after: Some(3),
            ..Default::default()
        },
    );
    let args = [
        "--smtp-url",
        &smtp.url(),
        "--mail-retry-after",
        "1",
        "--mail-from",
        "lunghub <news@example.org>",
    ];
    let mut server = Server::start_with(None, &args);
    let coordinator = admin(&server).await;
    let readers: Vec<String> = (1..=6)
        .map(|i| format!("reader{i}@example.org"))
        .chain(["busy@example.org".to_owned()])
        .collect();
    let anonymous = server.client();
    for who in &readers {
        subscribe(&anonymous, who).await;
    }
    subscribe(&anonymous, "refused@example.org").await;
    // The confirmations go out by SMTP; busy@ is refused once for now, then taken.
    for who in &readers {
        wait_until(&format!("the confirmation to {who}"), || {
            !smtp.received_by(who).is_empty()
        })
        .await;
        let mail = smtp.received_by(who).pop().expect("a confirmation");
        confirm(&anonymous, &server.link_in(&mail, "/subscribe/confirm/")).await;
    }
    // Refused for good (550): kept in the outbox with the reason, where the admin reads it.
    let kept = server.last_mail_to("refused@example.org").await;
    assert!(
        header(&kept, "X-Lunghub-Not-Sent").is_some_and(|w| w.contains("550")),
        "{kept}"
    );
    confirm(&anonymous, &server.link_in(&kept, "/subscribe/confirm/")).await;
    let outbox = coordinator.get("/admin/outbox").await.body;
    assert!(outbox.contains("No such mailbox"), "{outbox}");

    // The SMTP server goes away after three news mails, and is back two seconds later.
    let (_, answer) = publish(&coordinator, "Issue one", "Hello, readers.").await;
    assert!(answer.contains("8 mails"), "{answer}");
    wait_until("the SMTP server to go away", || smtp.has_exited()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(smtp);
    let smtp = SmtpPeer::start_on(port, maildir.path(), Behaviour::default());
    wait_until("every reader's copy of issue one", || {
        copies(&smtp, "Issue one").len() == readers.len()
    })
    .await;
    let got = copies(&smtp, "Issue one");
    for who in &readers {
        assert_eq!(got.get(who), Some(&(1, true)), "{who}: {got:?}");
    }
    assert!(!got.contains_key("refused@example.org"));
    let kept = server.mails_to("refused@example.org").await;
    assert!(
        kept.iter().any(|m| m.contains("Subject: Issue one")),
        "what SMTP refused is in the outbox"
    );

    // Killed (SIGKILL) mid-batch on a slow SMTP server, then started again: every reader
    // still gets the post, once the killed sender's 30-second lease has run out. SMTP cannot tell a sender whether a message whose reply it
    // never read arrived (RFC 1047), so a mail in flight at the kill may come twice; it
    // comes with the same Message-ID, and nothing else does.
    drop(smtp);
    let smtp = SmtpPeer::start_on(
        port,
        maildir.path(),
        Behaviour {
            rcpt_delay: Some(0.4),
            ..Default::default()
        },
    );
    let (_, answer) = publish(&coordinator, "Issue two", "Hello again.").await;
    assert!(answer.contains("8 mails"), "{answer}");
    wait_until("the first copy of issue two", || {
        !copies(&smtp, "Issue two").is_empty()
    })
    .await;
    server.kill();
    let before = copies(&smtp, "Issue two").len();
    assert!(
        before < readers.len(),
        "the kill came after the whole batch: make the SMTP server slower"
    );
    server.restart(&args);
    wait_until("every reader's copy of issue two", || {
        copies(&smtp, "Issue two").len() == readers.len()
    })
    .await;
    let got = copies(&smtp, "Issue two");
    let doubled: usize = got.values().map(|(n, _)| n - 1).sum();
    eprintln!(
        "issue two: {before} of {} readers had it at the kill; {doubled} copies doubled",
        readers.len()
    );
    assert!(got.values().all(|(_, same)| *same), "{got:?}");
    assert!(
        doubled <= 8,
        "only the mails in flight at the kill (at most one per SMTP connection) may double: {got:?}"
    );
}
