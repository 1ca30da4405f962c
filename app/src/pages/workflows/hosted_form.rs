//! The hosted form's words, on the workflow page: the heading, intro,
//! field labels and thank-you customers read, written by the business
//! (empty keeps the default made from the data contract).

use crate::components::field::FormError;
use crate::error::AppError;
use crate::views::FormWordsView;
use leptos::prelude::*;
use std::collections::BTreeMap;

#[cfg(feature = "ssr")]
pub fn words_view(
    business: String,
    words: &engine::form::FormWords,
    contract: &engine::data_contract::DataContract,
) -> FormWordsView {
    use engine::form::FormWords;
    FormWordsView {
        business,
        heading: words.heading.clone(),
        intro: words.intro.clone(),
        thank_you: words.thank_you.clone(),
        fields: engine::form::default_labels(contract)
            .into_iter()
            .map(|(path, default)| {
                let own = words.labels.get(&path).cloned().unwrap_or_default();
                (path, default, own)
            })
            .collect(),
        default_heading: FormWords::DEFAULT_HEADING.into(),
        default_intro: FormWords::DEFAULT_INTRO.into(),
        default_thank_you: FormWords::DEFAULT_THANK_YOU.into(),
    }
}

/// Saves the form's words; `labels` maps a field's path to its label.
#[server(endpoint = "save_form_words")]
pub async fn save_form_words(
    slug: String,
    name: String,
    heading: String,
    intro: String,
    thank_you: String,
    #[server(default)] labels: BTreeMap<String, String>,
) -> Result<(), AppError> {
    use actix_web::http::StatusCode;
    use store::hosted_forms::FormWordsError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, crate::ssr::EDITORS).await?;
    let not_found = || cx.refused(StatusCode::NOT_FOUND, "There is no such workflow with a hosted form.");
    let data_contract = match super::triggers::current_contract(&cx, &me, &name).await? {
        Some((_, contract, Some(data_contract))) if contract.trigger.is_form() => data_contract,
        _ => return Err(not_found()),
    };
    let words = engine::form::FormWords { heading, intro, thank_you, labels };
    match store::hosted_forms::save(&cx.state.db, &me, &name, &data_contract, words).await {
        Ok(_) => Ok(()),
        Err(FormWordsError::Invalid(problems)) => {
            Err(cx.invalid(problems.into_iter().map(|(f, r)| engine::FieldError::new(&f, r)).collect()))
        }
        Err(FormWordsError::NotFound) => Err(not_found()),
        Err(FormWordsError::Storage(e)) => Err(cx.internal("saving the form's words", e)),
    }
}

/// The editor, inside the triggers card's Form section (engineers and owners).
#[component]
pub fn FormWordsEditor(slug: String, name: String, words: FormWordsView, form_url: String) -> impl IntoView {
    let save = ServerAction::<SaveFormWords>::new();
    let heading = RwSignal::new(words.heading.clone());
    let intro = RwSignal::new(words.intro.clone());
    let thank_you = RwSignal::new(words.thank_you.clone());
    let labels: Vec<(String, String, RwSignal<String>)> = words
        .fields
        .iter()
        .map(|(path, default, own)| (path.clone(), default.clone(), RwSignal::new(own.clone())))
        .collect();
    let error = move |field: String| {
        Signal::derive(move || save.value().get().and_then(|r| r.err()).and_then(|e| e.field(&field)))
    };
    let message = Signal::derive(move || save.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let saved = Signal::derive(move || matches!(save.value().get(), Some(Ok(()))));
    let label_signals = labels.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(SaveFormWords {
            slug: slug.clone(),
            name: name.clone(),
            heading: heading.get_untracked(),
            intro: intro.get_untracked(),
            thank_you: thank_you.get_untracked(),
            labels: label_signals.iter().map(|(p, _, v)| (p.clone(), v.get_untracked())).collect(),
        });
    };
    let text = |id: &'static str,
                field: &'static str,
                label: &'static str,
                value: RwSignal<String>,
                placeholder: String,
                long: bool| {
        let err = error(field.to_string());
        view! {
            <div class="field" class:has-error=move || err.get().is_some()>
                <label for=id>{label}</label>
                {if long {
                    view! { <textarea id=id rows="3" prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) placeholder=placeholder></textarea> }.into_any()
                } else {
                    view! { <input id=id prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) placeholder=placeholder /> }.into_any()
                }}
                <p class="field-error" role="alert">{move || err.get().unwrap_or_default()}</p>
            </div>
        }
    };
    view! {
        <details class="form-words" data-testid="form-words">
            <summary>"Words your customers read"</summary>
            <p class="muted small">{format!(
                "The form shows your business's name ({}) above these. Leave a box empty to keep the suggestion shown in it.",
                words.business
            )}</p>
            <form on:submit=on_submit novalidate>
                {text("f-form-heading", "heading", "Heading", heading, words.default_heading.clone(), false)}
                {text("f-form-intro", "intro", "Introduction", intro, words.default_intro.clone(), true)}
                <fieldset>
                    <legend>"Field labels"</legend>
                    {labels.into_iter().map(|(path, default, value)| {
                        let id = format!("f-label-{}", path.replace('.', "-"));
                        let err = error(format!("labels.{path}"));
                        view! {
                            <div class="field" class:has-error=move || err.get().is_some()>
                                <label for=id.clone()>{default.clone()}<code>{path.clone()}</code></label>
                                <input id=id prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) placeholder=default />
                                <p class="field-error" role="alert">{move || err.get().unwrap_or_default()}</p>
                            </div>
                        }
                    }).collect_view()}
                </fieldset>
                {text("f-form-thanks", "thank_you", "Thank-you message", thank_you, words.default_thank_you.clone(), true)}
                <FormError message />
                <button class="button primary small" type="submit" data-testid="save-form-words" disabled=move || save.pending().get()>"Save the form's words"</button>
                <Show when=move || saved.get()>
                    <p class="notice" role="status" data-testid="form-words-saved">
                        "Saved. "<a href=form_url.clone() rel="external" target="_blank">"Open the form"</a>" to see it as customers do."
                    </p>
                </Show>
            </form>
        </details>
    }
}
