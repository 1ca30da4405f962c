use crate::views::DiffRowView;
use leptos::prelude::*;

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
