//! `/t/<slug>/{workflows,prompts}/<name>/diff?a=1&b=2`: two versions side by side.

use super::workspace::Refusal;
use crate::components::diff::DiffTable;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// What is being compared.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DiffOf {
    Workflow,
    Prompt,
}

#[component]
pub fn VersionDiffPage(of: DiffOf) -> impl IntoView {
    let params = use_params_map();
    let slug = Memo::new(move |_| params.read().get("slug").unwrap_or_default());
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let query = use_query_map();
    let pick =
        move |k: &'static str| Memo::new(move |_| query.read().get(k).and_then(|v| v.parse::<i32>().ok()).unwrap_or(1));
    let (a, b) = (pick("a"), pick("b"));
    let rows = Resource::new(
        move || (slug.get(), name.get(), a.get(), b.get()),
        move |(s, n, a, b)| async move {
            match of {
                DiffOf::Workflow => super::workflows::workflow_diff(s, n, a, b).await,
                DiffOf::Prompt => super::prompts::prompt_diff(s, n, a, b).await,
            }
        },
    );
    let (section, title) = match of {
        DiffOf::Workflow => ("workflows", "Workflows"),
        DiffOf::Prompt => ("prompts", "Prompts"),
    };
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

#[component]
pub fn WorkflowDiffPage() -> impl IntoView {
    view! { <VersionDiffPage of=DiffOf::Workflow /> }
}

#[component]
pub fn PromptDiffPage() -> impl IntoView {
    view! { <VersionDiffPage of=DiffOf::Prompt /> }
}
