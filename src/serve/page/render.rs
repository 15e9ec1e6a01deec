//! HTML of the page (maud templates: every `(value)` is HTML-escaped, in text and in
//! attributes). Pure: view model in, `String` out. No inline script or style: the page's
//! CSS and its one script (the copy button) are served from `/assets/` so that the
//! `Content-Security-Policy` can stay `default-src 'self'`.

use maud::{DOCTYPE, Markup, html};

use super::model::{Page, Row, State, Tick};
use crate::reconcile::journal::{ImageDetail, Result as Ran};

/// The stylesheet served at `/assets/sealgate.css`.
pub const CSS: &str = include_str!("sealgate.css");
/// The script served at `/assets/sealgate.js` (progressive enhancement: the copy button).
pub const JS: &str = include_str!("sealgate.js");

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub fn segment(s: &str) -> String {
    crate::base::reference::percent_encode(s)
}

/// The URL of a gate's page below `prefix` (`ns/name` names keep their `/`).
pub fn gate_href(prefix: &str, name: &str) -> String {
    let path: Vec<String> = name.split('/').map(segment).collect();
    format!("{prefix}/gates/{}", path.join("/"))
}

fn layout(prefix: &str, title: &str, now: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · sealgate" }
                link rel="stylesheet" href={ (prefix) "/assets/sealgate.css" };
                script src={ (prefix) "/assets/sealgate.js" } defer {}
            }
            body {
                header.top {
                    a.brand href={ (prefix) "/" } { "sealgate" }
                    span.muted { " release gates" }
                }
                main { (body) }
                footer.muted {
                    "Rendered " time datetime=(now) { (now) } " · "
                    a href={ (prefix) "/status" } { "status JSON" }
                    " · read-only"
                }
            }
        }
    }
    .into_string()
}

fn badge(state: State) -> Markup {
    html! {
        span class={ "badge " (state.class()) } {
            span aria-hidden="true" { (state.icon()) } " " (state.label())
        }
    }
}

fn verdict_badge(i: &ImageDetail) -> Markup {
    let (class, icon, text) = match (i.verdict.as_str(), i.blocking) {
        ("pass", _) => ("state-ready", "✓", "pass".to_owned()),
        ("allowed", _) => ("state-ready", "✓", "allowed".to_owned()),
        (v, true) => ("state-blocked", "✗", v.to_owned()),
        (v, false) => ("state-stalled", "⚠", format!("{v} (warn)")),
    };
    html! {
        span class={ "badge " (class) } { span aria-hidden="true" { (icon) } " " (text) }
    }
}

/// The overview page.
pub fn overview(rows: &[Row], prefix: &str, now: &str) -> String {
    let count = |s: State| rows.iter().filter(|r| r.state == s).count();
    let body = html! {
        h1 { "Gates" }
        p.counts {
            (rows.len()) " gates: "
            (count(State::AwaitingApproval)) " awaiting approval, "
            (count(State::Blocked)) " blocked, "
            (count(State::Stalled)) " stalled, "
            (count(State::Ready)) " ready"
        }
        @if rows.is_empty() {
            p { "No gate has reported yet." }
        } @else {
            div.scroll {
                table.gates.stack {
                    caption.visually-hidden { "Gates, those that need a person first" }
                    thead { tr {
                        th scope="col" { "State" }
                        th scope="col" { "Gate" }
                        th scope="col" { "Source" }
                        th scope="col" { "Target" }
                        th scope="col" { "Last promotion" }
                        th scope="col" { "Blocked images" }
                    } }
                    tbody {
                        @for r in rows {
                            tr {
                                td data-label="State" { (badge(r.state)) }
                                td data-label="Gate" {
                                    a href=(gate_href(prefix, &r.name)) { (r.name) }
                                    @if !r.reason.is_empty() {
                                        br; span.muted { (r.reason) }
                                    }
                                }
                                td data-label="Source" { span.wrap { (r.source) } br; code { (r.source_revision) } }
                                td data-label="Target" { span.wrap { (r.target) } br; code { (r.target_revision) } }
                                td data-label="Last promotion" { (r.since_promotion) }
                                td data-label="Blocked images" { (r.images_blocked) " of " (r.images_total) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(prefix, "Gates", now, body)
}

/// Shape of one timeline slot (distinct per result: colour is not the only signal).
fn tick_shape(t: &Tick, x: u32) -> Markup {
    let cx = x + 6;
    html! {
        g class={ "t-" (t.result.as_str().replace(' ', "-")) } {
            title { (t.title) }
            @match t.result {
                Ran::Promoted => rect x=(x) y="4" width="12" height="28" rx="2" {},
                Ran::Unchanged => rect x=(x) y="22" width="12" height="10" rx="2" {},
                Ran::Blocked => path d={ "M" (x) " 6 l12 24 M" (x + 12) " 6 l-12 24" } stroke-width="3" {},
                Ran::AwaitingApproval => circle cx=(cx) cy="18" r="6" {},
                Ran::Error => path d={ "M" (cx) " 6 L" (x + 12) " 30 L" (x) " 30 Z" } {},
            }
        }
    }
}

fn legend_shape(r: Ran) -> Markup {
    let t = Tick {
        result: r,
        title: r.as_str().to_owned(),
    };
    html! {
        li {
            svg.legend width="14" height="36" viewBox="0 0 14 36" aria-hidden="true" { (tick_shape(&t, 1)) }
            " " (r.as_str())
        }
    }
}

/// The timeline of the last reconciles, oldest left (server-side SVG).
fn timeline(ticks: &[Tick]) -> Markup {
    let width = u32::try_from(ticks.len().max(1)).unwrap_or(30) * 16;
    let count = |r: Ran| ticks.iter().filter(|t| t.result == r).count();
    let label = format!(
        "Last {} reconciles: {} promoted, {} blocked, {} unchanged, {} awaiting approval, {} errors",
        ticks.len(),
        count(Ran::Promoted),
        count(Ran::Blocked),
        count(Ran::Unchanged),
        count(Ran::AwaitingApproval),
        count(Ran::Error)
    );
    html! {
        @if ticks.is_empty() {
            p { "No reconcile recorded by this process yet." }
        } @else {
            p { (label) } // the same facts as text
            div.scroll {
                svg.timeline role="img" aria-label=(label) width=(width) height="36"
                    viewBox={ "0 0 " (width) " 36" } {
                    @for (n, t) in ticks.iter().enumerate() {
                        (tick_shape(t, u32::try_from(n).unwrap_or(0) * 16 + 2))
                    }
                }
            }
            ul.legend {
                @for r in [Ran::Promoted, Ran::Blocked, Ran::Unchanged, Ran::AwaitingApproval, Ran::Error] {
                    (legend_shape(r))
                }
            }
        }
    }
}

fn images(p: &Page) -> Markup {
    html! {
        @if p.images.is_empty() {
            p { "No images checked yet." }
        } @else {
            div.scroll {
                table.images.stack {
                    caption.visually-hidden { "Images of the revision, blocked ones first" }
                    thead { tr {
                        th scope="col" { "Verdict" }
                        th scope="col" { "Image" }
                        th scope="col" { "Why" }
                        th scope="col" { "Attestors" }
                        th scope="col" { "Where" }
                    } }
                    tbody {
                        @for i in &p.images {
                            tr class=@if i.ok() { "ok" } @else { "not-ok" } {
                                td data-label="Verdict" { (verdict_badge(i)) }
                                td data-label="Image" {
                                    code.wrap { (i.image) }
                                    @if let Some(d) = &i.digest { br; code.muted.wrap { (d) } }
                                }
                                td data-label="Why" {
                                    @if i.reasons.is_empty() { span.muted { "—" } }
                                    ul.plain { @for r in &i.reasons {
                                        li { strong.reason { (r.code) } ": " span.wrap { (r.message) } }
                                    } }
                                }
                                td data-label="Attestors" {
                                    @if i.attestors.is_empty() { span.muted { "none matched" } }
                                    ul.plain { @for a in &i.attestors {
                                        li {
                                            @if a.verified { span aria-hidden="true" { "✓ " } span.visually-hidden { "verified: " } }
                                            @else { span aria-hidden="true" { "✗ " } span.visually-hidden { "not verified: " } }
                                            strong { (a.attestor) } " "
                                            span.muted { (a.what) }
                                            @if !a.note.is_empty() { br; span.wrap.muted { (a.note) } }
                                        }
                                    } }
                                }
                                td data-label="Where" {
                                    ul.plain { @for l in &i.places {
                                        li {
                                            code.wrap { (l.file) } " #" (l.document) " "
                                            code.wrap { (l.pointer) } br;
                                            span.muted { (l.object) }
                                        }
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A gate's page.
pub fn gate(p: &Page, prefix: &str, now: &str) -> String {
    let r = &p.row;
    let body = html! {
        p.crumbs { a href={ (prefix) "/" } { "← all gates" } }
        h1 { (r.name) " " (badge(r.state)) }
        @if !r.message.is_empty() {
            p.why {
                @if !r.reason.is_empty() { strong.reason { (r.reason) } ": " }
                span.wrap { (r.message) }
            }
        }
        dl.facts {
            dt { "Source" } dd { span.wrap { (r.source) } " " code { (r.source_revision) } }
            dt { "Target" } dd { span.wrap { (r.target) } " " code { (r.target_revision) } }
            dt { "Last promotion" } dd { (r.since_promotion) }
            dt { "Images" } dd { (r.images_blocked) " blocked of " (r.images_total) }
            @if let Some(s) = &p.summary { dt { "Verification summary" } dd { code.wrap { (s) } } }
        }
        @if let Some(f) = &p.force_push {
            p.warning { span aria-hidden="true" { "⚠ " } strong { "Force-push: " } span.wrap { (f) } }
        }
        @if let Some(cmd) = &p.approve {
            section.approve aria-labelledby="approve-h" {
                h2 #approve-h { "Waiting for approval" }
                p { "Every image passed. A release manager approves the revision with:" }
                pre { code #approve-cmd { (cmd) } }
                button.copy type="button" data-copy="approve-cmd" hidden { "Copy command" }
            }
        }
        @if let Some(c) = &p.pending {
            section aria-labelledby="rev-h" {
                h2 #rev-h { "Revision " code { (c.commit.get(..12).unwrap_or(&c.commit)) } }
                dl.facts {
                    dt { "Commit" } dd { code.wrap { (c.commit) } }
                    dt { "Author" } dd { span.wrap { (c.author) } }
                    dt { "Time" } dd { (c.time) }
                    dt { "Message" } dd { strong.wrap { (c.subject) } }
                    @if let Some((ok, reason, message)) = &c.signature {
                        dt { "Commit signature" }
                        dd {
                            @if *ok { span aria-hidden="true" { "✓ " } } @else { span aria-hidden="true" { "✗ " } }
                            strong.reason { (reason) } ": " span.wrap { (message) }
                        }
                    }
                }
                @if !c.body.is_empty() { pre.message { (c.body) } }
            }
        }
        section aria-labelledby="img-h" {
            h2 #img-h { "Images of " code { (p.images_of) } }
            (images(p))
        }
        @if !p.findings.is_empty() {
            section aria-labelledby="find-h" {
                h2 #find-h { "Attestation findings" }
                div.scroll { table.stack {
                    thead { tr { th scope="col" { "Image" } th scope="col" { "Finding" } th scope="col" { "Details" } } }
                    tbody { @for f in &p.findings {
                        tr { td data-label="Image" { code.wrap { (f.image) } } td data-label="Finding" { strong.reason { (f.code) } } td data-label="Details" { span.wrap { (f.message) } } }
                    } }
                } }
            }
        }
        @if !p.updates.is_empty() {
            section aria-labelledby="upd-h" {
                h2 #upd-h { "Image updates" }
                div.scroll { table.stack {
                    thead { tr {
                        th scope="col" { "Policy" } th scope="col" { "In Git" }
                        th scope="col" { "Newest that passed" } th scope="col" { "Newer tags refused" }
                    } }
                    tbody { @for u in &p.updates {
                        tr {
                            td data-label="Policy" { strong { (u.name) } br; code.wrap.muted { (u.image) } }
                            td data-label="In Git" { code.wrap { (u.current.as_deref().unwrap_or("-")) } }
                            td data-label="Newest that passed" {
                                code.wrap { (u.latest.as_deref().unwrap_or("-")) }
                                @if let Some(m) = &u.message { br; span aria-hidden="true" { "⚠ " } span.wrap { (m) } }
                            }
                            td data-label="Newer tags refused" {
                                @if u.rejected.is_empty() { span.muted { "none" } }
                                ul.plain { @for r in &u.rejected {
                                    li {
                                        span aria-hidden="true" { "✗ " } code { (r.tag) } " "
                                        strong.reason { (r.reason) } ": " span.wrap { (r.message) }
                                    }
                                } }
                            }
                        }
                    } }
                } }
            }
        }
        @if !p.problems.is_empty() {
            section aria-labelledby="prob-h" {
                h2 #prob-h { "Manifest problems" }
                ul { @for m in &p.problems { li { span.wrap { (m) } } } }
            }
        }
        section aria-labelledby="tl-h" {
            h2 #tl-h { "Last reconciles" }
            (timeline(&p.timeline))
        }
        section aria-labelledby="hist-h" {
            h2 #hist-h { "Promotion history" }
            @if p.promotions.is_empty() {
                p { "No promotion recorded by this process yet." }
            } @else {
                div.scroll { table.stack {
                    thead { tr {
                        th scope="col" { "Revision" } th scope="col" { "When" }
                        th scope="col" { "Promotion commit" } th scope="col" { "Summary" }
                    } }
                    tbody { @for h in &p.promotions {
                        tr {
                            td data-label="Revision" { code { (h.revision.get(..12).unwrap_or(&h.revision)) } }
                            td data-label="When" { time datetime=(h.time) { (h.ago) } }
                            td data-label="Promotion commit" { code { (h.commit.get(..12).unwrap_or(&h.commit)) } }
                            td data-label="Summary" { @if let Some(s) = &h.summary { code.wrap { (s) } } @else { span.muted { "—" } } }
                        }
                    } }
                } }
            }
        }
        section aria-labelledby="cond-h" {
            h2 #cond-h { "Conditions" }
            div.scroll { table.stack {
                thead { tr { th scope="col" { "Type" } th scope="col" { "Status" } th scope="col" { "Reason" } th scope="col" { "Message" } } }
                tbody { @for (t, s, reason, m) in &p.conditions {
                    tr { td data-label="Type" { (t) } td data-label="Status" { (s) } td data-label="Reason" { (reason) } td data-label="Message" { span.wrap { (m) } } }
                } }
            } }
        }
    };
    layout(prefix, &r.name, now, body)
}

/// The page of a gate that does not exist.
pub fn not_found(prefix: &str, name: &str, now: &str) -> String {
    layout(
        prefix,
        "Not found",
        now,
        html! {
            h1 { "No such gate" }
            p { "No gate is named " code { (name) } ". " a href={ (prefix) "/" } { "All gates" } }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::journal::{ReasonLine, RevisionInfo};
    use crate::reconcile::{ConditionType, GateStatus, Reason};
    use crate::serve::page::model::{self, GateView};

    const EVIL: &str = "<script>alert(1)</script>\"'&";

    fn evil_gate() -> GateView {
        let mut st = GateStatus {
            source: Some(format!("https://git/{EVIL} main")),
            decision: Some("blocked".into()),
            images_total: 1,
            images_blocked: 1,
            problems: vec![format!("apps/{EVIL}.yaml #0: ManifestParseError: bad")],
            ..GateStatus::default()
        };
        st.set(
            ConditionType::Ready,
            false,
            &Reason::Code("NoSignature".into()),
            format!("blocked {EVIL}"),
            "2026-12-08T10:00:00Z",
        );
        let mut g = GateView {
            name: format!("ns/{EVIL}"),
            status: st,
            ..GateView::default()
        };
        g.journal.revision = Some(RevisionInfo::new(
            "c0ffee",
            EVIL,
            0,
            &format!("{EVIL}\n\n{EVIL}"),
        ));
        g.journal.images = vec![ImageDetail {
            image: format!("r/{EVIL}"),
            digest: None,
            verdict: "fail".into(),
            blocking: true,
            reasons: vec![ReasonLine {
                code: "SbomDeniedPackage".into(),
                message: EVIL.into(),
            }],
            attestors: vec![],
            places: vec![crate::reconcile::journal::Place {
                file: format!("apps/{EVIL}.yaml"),
                document: 0,
                pointer: "/spec/template/spec/containers/0/image".into(),
                object: "Deployment web".into(),
            }],
        }];
        g
    }

    #[test]
    fn every_attacker_controlled_string_is_escaped() {
        let g = evil_gate();
        let page = gate(&model::page(&g, 0), "/pre", "now");
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;'&amp;"));
        let over = overview(&model::overview(&[g], 0), "/pre", "now");
        assert!(!over.contains("<script>alert"), "{over}");
        // the only script element is the page's own asset
        assert_eq!(over.matches("<script").count(), 1, "{over}");
        assert!(over.contains("<script src=\"/pre/assets/sealgate.js\" defer></script>"));
        assert!(
            over.contains("href=\"/pre/gates/ns/%3Cscript%3Ealert%281%29%3C/script%3E%22%27%26\""),
            "{over}"
        );
    }

    #[test]
    fn the_page_has_its_sections_and_no_inline_style_or_script() {
        let mut g = evil_gate();
        g.status.set(
            ConditionType::AwaitingApproval,
            true,
            &Reason::AwaitingApproval,
            "w",
            "t",
        );
        g.status.last_verified_revision = Some("1c6e".into());
        g.status.image_updates = vec![crate::reconcile::status::ImageUpdateStatus {
            name: "web".into(),
            image: "r/web".into(),
            current: Some("1.1.0@sha256:aa".into()),
            latest: Some("1.1.0@sha256:aa".into()),
            rejected: vec![crate::reconcile::status::RejectedCandidate {
                tag: "1.2.0".into(),
                digest: None,
                reason: "NoSignature".into(),
                message: EVIL.into(),
                checked_at: None,
            }],
            ..Default::default()
        }];
        g.approve = Some(std::sync::Arc::new(|r: &str| {
            format!("sealgate approve g -n ns # {r}")
        }));
        g.journal.record(
            5,
            &crate::reconcile::Outcome::Blocked {
                reason: "NoSignature".into(),
            },
            &g.status.clone(),
        );
        let html = gate(&model::page(&g, 10), "", "now");
        for want in [
            "Waiting for approval",
            "<code id=\"approve-cmd\">sealgate approve g -n ns # 1c6e</code>",
            "Attestation findings",
            "Manifest problems",
            "Last 1 reconciles: 0 promoted, 1 blocked",
            "Promotion history",
            "Image updates",
            "<code>1.2.0</code> <strong class=\"reason\">NoSignature</strong>",
            "apps/&lt;script&gt;",
            "/spec/template/spec/containers/0/image",
        ] {
            assert!(html.contains(want), "{want} missing: {html}");
        }
        assert!(!html.contains(" style="), "no inline style");
        assert!(!html.contains("onclick"), "no inline handler");
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("web-prod_1.x~"), "web-prod_1.x~");
        assert_eq!(segment("a b/?#"), "a%20b%2F%3F%23");
        assert_eq!(gate_href("", "ns/a b"), "/gates/ns/a%20b");
    }
}
