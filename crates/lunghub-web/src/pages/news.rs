//! News: coordinators write posts in Markdown (rendered without raw HTML, http(s) links
//! only), preview and publish them; published posts are on `/news`, in an Atom feed
//! (`/news.atom`, RFC 4287), and mailed to every confirmed subscriber with a one-click
//! unsubscribe (RFC 8058). Events (a release, an institute whose dataset is available, a
//! challenge's close) draft a post for a coordinator to publish.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lunghub_domain::access::Action;
use lunghub_release::card::safe_html;
use lunghub_store::mail::NewMail;
use lunghub_store::news::NewsPost;
use maud::{Markup, PreEscaped, html};

use super::{see_other, with_status};
use crate::form::{FormFields, Problems};
use crate::i18n::Lang;
use crate::layout::{csrf, date, page, problems};
use crate::{Shared, Viewer, WebError};

/// Posts on `/news` and in the feed.
const SHOWN: i64 = 50;
const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 20_000;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/news", get(list))
        .route("/news.atom", get(feed))
        .route("/news/{id}", get(one))
        .route("/coord/news", get(desk).post(create))
        .route("/coord/news/{id}", get(edit_form).post(save))
        .route("/coord/news/{id}/publish", post(publish))
        .route("/coord/news/{id}/delete", post(delete))
}

fn post_body(post: &NewsPost) -> Markup {
    PreEscaped(safe_html(&post.body))
}

async fn list(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    let posts = app.platform.published_posts(SHOWN).await?;
    let t = |id: &str| viewer.t(id);
    let body = html! {
        h1 { (t("nav-news")) }
        p.lead {
            (t("news-lead")) " "
            a href="/subscribe" { (t("news-by-email")) } " · "
            a href="/news.atom" { (t("news-feed")) }
        }
        @if viewer.may(Action::PublishNews) { p { a.button href="/coord/news" { (t("news-write")) } } }
        @for p in &posts {
            article.post {
                h2 { a href=(format!("/news/{}", p.id)) { (p.title) } }
                p.meta { time datetime=(date(p.published_at.unwrap_or(p.created_at))) { (viewer.lang.long_date(p.published_at.unwrap_or(p.created_at))) } }
                div.prose { (post_body(p)) }
            }
        }
        @if posts.is_empty() { p.notice { (t("news-none")) } }
    };
    Ok(page(&viewer, &t("nav-news"), body).into_response())
}

async fn one(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let post = app
        .platform
        .post(&id)
        .await?
        .filter(|p| p.published_at.is_some() || viewer.may(Action::PublishNews))
        .ok_or(WebError::NotFound)?;
    let body = html! {
        p.meta { a href="/news" { "← " (viewer.t("nav-news")) } }
        article.post {
            h1 { (post.title) }
            p.meta {
                @match post.published_at {
                    Some(at) => { time datetime=(date(at)) { (viewer.lang.long_date(at)) } }
                    None => { (viewer.t("news-draft")) }
                }
            }
            div.prose { (post_body(&post)) }
        }
    };
    Ok(page(&viewer, &post.title, body).into_response())
}

/// RFC 4287: the feed, its entries, and the XML text they are written in.
async fn feed(State(app): State<Shared>) -> Result<Response, WebError> {
    let posts = app.platform.published_posts(SHOWN).await?;
    let updated = posts
        .iter()
        .filter_map(|p| p.published_at)
        .max()
        .unwrap_or(0);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    xml.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let feed_url = app.link("/news.atom");
    let site = app.link("/news");
    xml.push_str(&format!(
        "  <title>lunghub news</title>\n  <id>{}</id>\n  <updated>{}</updated>\n  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n  <author><name>lunghub</name><uri>{}</uri></author>\n",
        escape(&site),
        rfc3339(updated),
        escape(&feed_url),
        escape(&site),
        escape(&app.link("/")),
    ));
    for p in &posts {
        let url = app.link(&format!("/news/{}", p.id));
        let at = p.published_at.unwrap_or(p.created_at);
        xml.push_str(&format!(
            "  <entry>\n    <title>{}</title>\n    <id>{}</id>\n    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n    <published>{}</published>\n    <updated>{}</updated>\n    <content type=\"html\">{}</content>\n  </entry>\n",
            escape(&p.title),
            escape(&url),
            escape(&url),
            rfc3339(at),
            rfc3339(at),
            escape(&safe_html(&p.body)),
        ));
    }
    xml.push_str("</feed>\n");
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        xml,
    )
        .into_response())
}

/// Text as XML character data or an attribute value. Characters XML 1.0 cannot hold at
/// all (most C0 controls) are dropped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A nanosecond time as an RFC 3339 UTC timestamp, to the second.
pub fn rfc3339(ns: i64) -> String {
    let in_day = ns.div_euclid(1_000_000_000).rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(ns),
        in_day / 3600,
        (in_day / 60) % 60,
        in_day % 60
    )
}

// ---- the coordinators' desk -----------------------------------------------------------

fn editor(viewer: &Viewer, action: &str, title: &str, text: &str, list: &[String]) -> Markup {
    html! {
        (problems(viewer.lang, list))
        form.stacked method="post" action=(action) {
            (csrf(viewer))
            label for="title" { "Title" }
            input type="text" id="title" name="title" required maxlength=(MAX_TITLE) value=(title);
            label for="body" { "Text" }
            p.hint { "Markdown: *emphasis*, **bold**, lists, [links](https://…). HTML is shown as text; only http and https links work." }
            textarea id="body" name="body" rows="14" maxlength=(MAX_BODY) { (text) }
            button.primary type="submit" { "Save and preview" }
        }
    }
}

async fn desk(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Action::PublishNews, "/coord/news")?;
    super::events::draft_closed_challenges(&app).await?;
    let drafts = app.platform.draft_posts().await?;
    let published = app.platform.published_posts(10).await?;
    let body = html! {
        h1 { "News" }
        p.lead { "Write a post, preview it, then publish: it appears on the news page and in the feed, and goes by email to every confirmed subscriber. A published post cannot be changed." }
        h2 { "Drafts" }
        div.table-wrap {
            table.responsive {
                thead { tr { th { "Title" } th { "Drafted by" } th { "Last change" } } }
                tbody {
                    @for d in &drafts {
                        tr {
                            td data-label="Title" { a href=(format!("/coord/news/{}", d.id)) { (d.title) } }
                            td data-label="Drafted by" { @if d.event.is_some() { "an event" } @else { "a coordinator" } }
                            td data-label="Last change" { (date(d.updated_at)) }
                        }
                    }
                    @if drafts.is_empty() { tr { td colspan="3" { "No drafts." } } }
                }
            }
        }
        h2 { "Write a post" }
        (editor(&viewer, "/coord/news", "", "", &[]))
        h2 { "Published" }
        ul {
            @for p in &published { li { a href=(format!("/news/{}", p.id)) { (p.title) } " · " (date(p.published_at.unwrap_or(0))) } }
            @if published.is_empty() { li { "Nothing yet." } }
        }
    };
    Ok(page(&viewer, "News desk", body).into_response())
}

fn read_post(fields: &crate::form::Fields) -> (String, String, Problems) {
    let mut p = Problems::default();
    let title = p.text(fields, "title", "The title", true, MAX_TITLE, false);
    let body = p.text(fields, "body", "The text", true, MAX_BODY, true);
    (title, body, p)
}

async fn create(
    State(app): State<Shared>,
    viewer: Viewer,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let account = viewer.require(Action::PublishNews, "/coord/news")?;
    let (title, body, p) = read_post(&fields);
    if !p.is_empty() {
        let page_body =
            html! { h1 { "Write a post" } (editor(&viewer, "/coord/news", &title, &body, &p.0)) };
        return Ok(with_status(
            StatusCode::BAD_REQUEST,
            page(&viewer, "Write a post", page_body),
        ));
    }
    let post = app.platform.create_post(&title, &body, &account.id).await?;
    Ok(see_other(&format!("/coord/news/{}", post.id)))
}

async fn edit_page(
    app: &Shared,
    viewer: &Viewer,
    post: &NewsPost,
    title: &str,
    text: &str,
    list: &[String],
) -> Result<Markup, WebError> {
    let subscribers = app.platform.subscribers_to_mail().await?.len();
    let action = format!("/coord/news/{}", post.id);
    Ok(html! {
        p.meta { a href="/coord/news" { "← News desk" } }
        @if post.published_at.is_some() {
            h1 { (post.title) }
            p.notice { "Published on " (date(post.published_at.unwrap_or(0))) " and mailed; it can no longer be changed. " a href=(format!("/news/{}", post.id)) { "See it on the news page" } }
        } @else {
            h1 { "Edit the draft" }
            (editor(viewer, &action, title, text, list))
            h2 { "Preview" }
            article.post.preview {
                h2 { (post.title) }
                div.prose { (post_body(post)) }
            }
            div.actions {
                form.inline method="post" action=(format!("/coord/news/{}/publish", post.id)) {
                    (csrf(viewer))
                    button.primary type="submit" { "Publish and mail " (crate::layout::count(subscribers, "subscriber")) }
                }
                form.inline method="post" action=(format!("/coord/news/{}/delete", post.id)) {
                    (csrf(viewer))
                    button.danger type="submit" { "Delete the draft" }
                }
            }
        }
    })
}

async fn edit_form(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    viewer.require(Action::PublishNews, "/coord/news")?;
    let post = app.platform.post(&id).await?.ok_or(WebError::NotFound)?;
    let body = edit_page(&app, &viewer, &post, &post.title, &post.body, &[]).await?;
    Ok(page(&viewer, "Edit a post", body).into_response())
}

async fn save(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    viewer.require(Action::PublishNews, "/coord/news")?;
    let post = app.platform.post(&id).await?.ok_or(WebError::NotFound)?;
    let (title, text, p) = read_post(&fields);
    if !p.is_empty() {
        let body = edit_page(&app, &viewer, &post, &title, &text, &p.0).await?;
        return Ok(with_status(
            StatusCode::BAD_REQUEST,
            page(&viewer, "Edit a post", body),
        ));
    }
    app.platform.update_post(&id, &title, &text).await?;
    Ok(see_other(&format!("/coord/news/{id}")))
}

async fn publish(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let account = viewer.require(Action::PublishNews, "/coord/news")?;
    let post = app.platform.post(&id).await?.ok_or(WebError::NotFound)?;
    let mails = news_mails(&app, &post).await?;
    let queued = app.platform.publish_post(&id, &account.id, &mails).await?;
    app.mailer.wake();
    let body = html! {
        h1 { "Published" }
        p.notice { "“" (post.title) "” is on the news page and in the feed. " (crate::layout::count(usize::try_from(queued).unwrap_or(0), "mail")) " to subscribers are on their way." }
        p { a.button href=(format!("/news/{id}")) { "See the post" } " " a href="/coord/news" { "Back to the news desk" } }
    };
    Ok(page(&viewer, "Published", body).into_response())
}

/// One mail per confirmed subscriber, each with its own unsubscribe links. The text is
/// the post's Markdown, which reads as plain text.
async fn news_mails(app: &Shared, post: &NewsPost) -> Result<Vec<NewMail>, WebError> {
    let read_online = app.link(&format!("/news/{}", post.id));
    Ok(app
        .platform
        .subscribers_to_mail()
        .await?
        .into_iter()
        .map(|s| {
            let page = app.link(&format!("/unsubscribe/{}", s.unsubscribe_token));
            let lang = s.lang.as_deref().and_then(Lang::parse).unwrap_or_default();
            let body = lang.ta(
                "mail-news-body",
                &[
                    ("title", post.title.as_str().into()),
                    ("text", post.body.as_str().into()),
                    ("online", read_online.as_str().into()),
                    ("unsubscribe", page.as_str().into()),
                ],
            );
            NewMail {
                unsubscribe_url: Some(format!("{page}/one-click")),
                dedupe_key: Some(format!("news:{}:{}", post.id, s.email)),
                ..NewMail::new(&s.email, &post.title, &body)
            }
        })
        .collect())
}

async fn delete(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    viewer.require(Action::PublishNews, "/coord/news")?;
    app.platform.delete_draft(&id).await?;
    Ok(see_other("/coord/news"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_795_392_000 * 1_000_000_000 + 3_723 * 1_000_000_000 + 5),
            "2026-11-23T01:02:03Z"
        );
    }

    #[test]
    fn xml_text_is_escaped_and_keeps_no_control_characters() {
        assert_eq!(escape("a<b>&\"c\u{1}\n"), "a&lt;b&gt;&amp;&quot;c\n");
    }
}
