//! Two versions of a contract side by side: the table, and the page around
//! it that the workflow and prompt diff pages share.

use crate::components::refusal::Refusal;
use crate::error::AppError;
use crate::views::DiffRowView;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/t/<slug>/<section>/<name>/diff?a=1&b=2`: two versions side by side,
/// read with `load` (the workflow's or the prompt's diff server function:
/// business, name, version a, version b).
#[component]
pub fn VersionDiff<F, Fut>(section: &'static str, title: &'static str, load: F) -> impl IntoView
where
    F: Fn(String, String, i32, i32) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Vec<DiffRowView>, AppError>> + Send + 'static,
{
    let slug = crate::route::param("slug");
    let name = crate::route::param("name");
    let query = use_query_map();
    let pick =
        move |k: &'static str| Memo::new(move |_| query.read().get(k).and_then(|v| v.parse::<i32>().ok()).unwrap_or(1));
    let (a, b) = (pick("a"), pick("b"));
    let rows =
        crate::resource::new(move || (slug.get(), name.get(), a.get(), b.get()), move |(s, n, a, b)| load(s, n, a, b));
    view! {
        <Title text="Diff" />
        <section class="page-head">
            <p class="crumbs"><a href=move || format!("/t/{}/{section}", slug.get())>{title}</a>" / "
                <a href=move || format!("/t/{}/{section}/{}", slug.get(), name.get())>{move || name.get()}</a>" / "</p>
            <h1>{move || format!("v{} → v{}", a.get(), b.get())}</h1>
        </section>
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match rows.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(rows) => view! { <DiffTable rows left_label=format!("v{}", a.get_untracked()) right_label=format!("v{}", b.get_untracked()) /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Two versions side by side: removed lines on the left, added on the right.
#[component]
pub fn DiffTable(rows: Vec<DiffRowView>, left_label: String, right_label: String) -> impl IntoView {
    view! {
        <section class="card diff" data-testid="diff">
            <table class="diff-table">
                <colgroup><col class="ln-col" /><col /><col class="ln-col" /><col /></colgroup>
                <thead><tr><th colspan="2">{left_label}</th><th colspan="2">{right_label}</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| {
                        let (ln, lt) = r.left.map(|(n, t)| (n.to_string(), t)).unwrap_or_default();
                        let (rn, rt) = r.right.map(|(n, t)| (n.to_string(), t)).unwrap_or_default();
                        view! {
                            <tr class=r.change.clone()>
                                <td class="ln">{ln}</td><td class="code-cell left">{lt}</td>
                                <td class="ln">{rn}</td><td class="code-cell right">{rt}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// The side-by-side rows of two texts (server side).
#[cfg(feature = "ssr")]
pub fn diff_rows(old: &str, new: &str) -> Vec<DiffRowView> {
    engine::diff::side_by_side(old, new)
        .into_iter()
        .map(|r| DiffRowView {
            change: match r.change {
                engine::diff::LineChange::Same => "same",
                engine::diff::LineChange::Removed => "removed",
                engine::diff::LineChange::Added => "added",
            }
            .into(),
            left: r.left,
            right: r.right,
        })
        .collect()
}
