//! A workflow's ways in, on its page: the webhook URL with a signing secret
//! shown once, a copyable signed `curl` example, the hosted form and its
//! embeddable snippet, and recent deliveries with what became of them.

use crate::components::copy::CopyButton;
use crate::components::field::FormError;
use crate::error::AppError;
use crate::views::{DeliveryView, TriggersView};
use leptos::prelude::*;

/// The workflow (`None` if there is none), the contract its triggers use
/// (the live version, else the newest) and that contract's data contract.
#[cfg(feature = "ssr")]
pub(super) async fn current_contract(
    cx: &crate::ssr::Ctx,
    me: &store::auth::CurrentMember,
    name: &str,
) -> Result<
    Option<(
        store::workflows::WorkflowDetail,
        engine::workflow::WorkflowContract,
        Option<engine::data_contract::DataContract>,
    )>,
    AppError,
> {
    let state = &cx.state;
    let Ok(detail) = store::workflows::detail(&state.db, me, name).await else { return Ok(None) };
    let version = detail.workflow.live_version.unwrap_or(detail.workflow.latest_version);
    let source = store::workflows::version_yaml(&state.db, me, name, version)
        .await
        .map_err(|e| cx.internal("reading the workflow", e))?;
    let contract = engine::workflow::WorkflowContract::structure(&source)
        .ok_or_else(|| cx.internal("reading the workflow", "stored contract does not parse"))?;
    let data_contract = match contract.trigger.contract_name() {
        Some(n) => store::data_contracts::find(&state.db, &me.tenant, &n)
            .await
            .map_err(|e| cx.internal("reading the data contract", e))?,
        None => None,
    };
    Ok(Some((detail, contract, data_contract)))
}

#[server(endpoint = "workflow_triggers")]
pub async fn workflow_triggers(slug: String, name: String) -> Result<TriggersView, AppError> {
    use actix_web::http::StatusCode;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Workflows).await?;
    let state = &cx.state;
    let public = state.settings.public_url.as_str().trim_end_matches('/').to_owned();
    let (yaml, contract, data_contract) = current_contract(&cx, &me, &name)
        .await?
        .ok_or_else(|| cx.refused(StatusCode::NOT_FOUND, "There is no such workflow."))?;
    let has_secret = store::webhook_secrets::has_secret(&state.db, &me.tenant, &name)
        .await
        .map_err(|e| cx.internal("reading the triggers", e))?;
    use store::retention::Kept;
    let retention_days = store::retention::days(&state.db, &me.tenant, &name, Kept::RefusedRecords)
        .await
        .map_err(|e| cx.internal("reading the triggers", e))?
        .unwrap_or(30);
    let data_retention_days = store::retention::days(&state.db, &me.tenant, &name, Kept::RunData)
        .await
        .map_err(|e| cx.internal("reading the triggers", e))?
        .unwrap_or(store::retention::DEFAULT_DAYS);
    let deliveries = store::runs::deliveries(&state.db, &me.tenant, &name, 20)
        .await
        .map_err(|e| cx.internal("reading deliveries", e))?;
    let sample = data_contract.as_ref().map(|d| d.sample(chrono::Utc::now())).unwrap_or_else(|| serde_json::json!({}));
    let form = contract.trigger.is_form().then_some(data_contract.as_ref()).flatten();
    let (business, words) = match form {
        Some(_) => store::hosted_forms::words(&state.db, &me.tenant, &name)
            .await
            .map_err(|e| cx.internal("reading the form's words", e))?,
        None => Default::default(),
    };
    let signature = contract.trigger.signature();
    let trigger = &contract.trigger;
    let preset = trigger.preset().map(|p| crate::views::PresetInUseView {
        name: p.name.clone(),
        title: p.title.clone(),
        setup: p.setup.clone(),
        documentation: p.documentation.clone(),
        data_contract: p.data_contract.clone(),
        contract_missing: data_contract.is_none(),
        body_to_send: p.body_to_send.clone(),
    });
    let mapping = trigger
        .mapping()
        .fields
        .into_iter()
        .map(|(field, expression)| crate::views::MappingRowView {
            own: trigger.mapping.contains_key(&field),
            field,
            expression,
        })
        .collect();
    // A vendor's own sample shows what its deliveries look like.
    let sample = trigger.preset().map(|p| p.sample.clone()).unwrap_or(sample);
    Ok(TriggersView {
        webhook_url: format!("{public}/hooks/{slug}/{name}"),
        scheme: signature.scheme.as_str().to_owned(),
        instructions: signature.instructions(),
        paste_secret: signature.scheme.vendor_makes_the_secret(),
        weakest: signature.scheme == engine::sender_proof::Scheme::SecretPath,
        has_secret,
        event: contract.trigger.event.clone(),
        sample_body: sample.to_string(),
        form_url: form.map(|_| format!("{public}/forms/{slug}/{name}")),
        form_snippet: form.map(|d| engine::form::snippet(&public, &slug, &name, d, &words)),
        form_words: form.map(|d| super::hosted_form::words_view(business, &words, d)),
        live: yaml.workflow.live_version.is_some(),
        latest_version: yaml.workflow.latest_version,
        can_rotate: crate::ssr::EDITORS.contains(&me.role),
        retention_days,
        data_retention_days,
        can_set_retention: RETENTION_EDITORS.contains(&me.role),
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryView {
                at: crate::ssr::short_time(&d.received_at),
                channel: d.channel,
                outcome: d.outcome,
                status_code: d.status_code,
                reason: d.reason,
                run_id: d.run_id.map(|r| r.to_string()),
            })
            .collect(),
        schemes: engine::sender_proof::Scheme::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), s.label().to_owned()))
            .collect(),
        signature_header: signature.header.clone().unwrap_or_default(),
        signature_username: signature.username.clone().unwrap_or_default(),
        presets: engine::mapping::presets()
            .iter()
            .map(|p| crate::views::PresetChoiceView {
                name: p.name.clone(),
                title: p.title.clone(),
                scheme: p.signature.as_str().to_owned(),
            })
            .collect(),
        preset,
        mapping,
    })
}

/// Sets how the trigger's senders prove themselves and which mapping
/// preset reads their payloads, without writing YAML: the latest version
/// with its trigger changed (the rest as written) is saved as a new draft,
/// whose number is returned for publishing.
#[server(endpoint = "set_up_trigger")]
pub async fn set_up_trigger(
    slug: String,
    name: String,
    scheme: String,
    preset: String,
    header: String,
    username: String,
) -> Result<i32, AppError> {
    use engine::sender_proof::{Scheme, Signature};
    use engine::FieldError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, crate::ssr::EDITORS).await?;
    let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let Some(scheme) = Scheme::named(scheme.trim()) else {
        return Err(cx.invalid(vec![FieldError::new("scheme", "Choose how the sending tool proves itself.")]));
    };
    let preset = text(&preset);
    if preset.as_deref().is_some_and(|p| engine::mapping::preset(p).is_none()) {
        return Err(cx.invalid(vec![FieldError::new("preset", "There is no such preset.")]));
    }
    change_trigger(&cx, &me, &name, |trigger| {
        let mut signature = Signature {
            header: text(&header).filter(|_| matches!(scheme, Scheme::HmacSha256 | Scheme::HeaderSecret)),
            username: text(&username).filter(|_| scheme == Scheme::BasicAuth),
            ..Signature::of(scheme)
        };
        // Keep what only YAML sets (encoding, prefix, tolerance) while the scheme stays.
        if let Some(before) = trigger.signature.as_ref().filter(|b| b.scheme == scheme) {
            signature.encoding = before.encoding;
            signature.prefix = before.prefix.clone();
            signature.tolerance_seconds = before.tolerance_seconds;
        }
        let problems: Vec<FieldError> = signature
            .problems()
            .into_iter()
            .map(|(field, reason)| FieldError::new(field, format!("{}: {reason}", scheme.label())))
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        trigger.signature = (signature != Signature::default()).then_some(signature);
        trigger.preset = preset.clone();
        Ok(format!(
            "Trigger set up on its page: {}{}",
            scheme.label(),
            preset.as_ref().map(|p| format!(", mapping preset {p}")).unwrap_or_default()
        ))
    })
    .await
}

/// Adds or replaces one of the trigger's own mapping rows (record field ←
/// expression over the payload), or removes it when the expression is
/// empty; saved as a new draft version whose number is returned.
#[server(endpoint = "set_mapping_row")]
pub async fn set_mapping_row(slug: String, name: String, field: String, expression: String) -> Result<i32, AppError> {
    use engine::FieldError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, crate::ssr::EDITORS).await?;
    let (field, expression) = (field.trim().to_owned(), expression.trim().to_owned());
    if !engine::mapping::is_field_path(&field) {
        return Err(cx.invalid(vec![FieldError::new(
            "field",
            "Name a record field: names joined by dots, e.g. customer.email.",
        )]));
    }
    if let Err(reason) = if expression.is_empty() { Ok(()) } else { engine::mapping::check_expression(&expression) } {
        return Err(cx.invalid(vec![FieldError::new("expression", format!("The expression does not read: {reason}"))]));
    }
    change_trigger(&cx, &me, &name, |trigger| {
        if expression.is_empty() {
            trigger.mapping.remove(&field);
            Ok(format!("Mapping row {field} removed on the trigger's page"))
        } else {
            trigger.mapping.insert(field.clone(), expression.clone());
            Ok(format!("Mapping row {field} set to `{expression}` on the trigger's page"))
        }
    })
    .await
}

/// Saves the latest version with its trigger changed by `change` (the rest
/// of the contract as written) as a new draft; returns its number. The
/// contract's own checks answer as field errors (preset, mapping or scheme).
#[cfg(feature = "ssr")]
async fn change_trigger(
    cx: &crate::ssr::Ctx,
    me: &store::auth::CurrentMember,
    name: &str,
    change: impl FnOnce(&mut engine::workflow::Trigger) -> Result<String, Vec<engine::FieldError>>,
) -> Result<i32, AppError> {
    use actix_web::http::StatusCode;
    use engine::FieldError;
    let db = &cx.state.db;
    let detail = store::workflows::detail(db, me, name)
        .await
        .map_err(|_| cx.refused(StatusCode::NOT_FOUND, "There is no such workflow."))?;
    let source = store::workflows::version_yaml(db, me, name, detail.workflow.latest_version)
        .await
        .map_err(|e| cx.internal("reading the workflow", e))?;
    let mut trigger = engine::workflow::WorkflowContract::structure(&source)
        .ok_or_else(|| cx.internal("reading the workflow", "stored contract does not parse"))?
        .trigger;
    let note = change(&mut trigger).map_err(|problems| cx.invalid(problems))?;
    let yaml = engine::workflow::with_trigger(&source, &trigger)
        .ok_or_else(|| cx.internal("changing the trigger", "the contract has no trigger block"))?;
    match store::workflows::save_version(db, me, &yaml, &note).await {
        Ok((_, number)) => Ok(number),
        Err(store::workflows::WorkflowError::Invalid(issues)) => Err(cx.invalid(
            issues
                .into_iter()
                .map(|i| {
                    let field = if i.message.starts_with("mapping") {
                        "expression"
                    } else if i.message.contains("preset") {
                        "preset"
                    } else {
                        "scheme"
                    };
                    FieldError::new(field, i.message)
                })
                .collect(),
        )),
        Err(e) => Err(cx.internal("saving the workflow", e)),
    }
}

/// Creates a new signing secret (the earlier one keeps working for a day)
/// and returns it: the only time anyone sees it.
#[server(endpoint = "rotate_webhook_secret")]
pub async fn rotate_webhook_secret(slug: String, name: String) -> Result<String, AppError> {
    use actix_web::http::StatusCode;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, crate::ssr::EDITORS).await?;
    store::webhook_secrets::rotate(
        &cx.state.db,
        &cx.state.settings,
        &me,
        &name,
        store::webhook_secrets::DEFAULT_GRACE_HOURS,
    )
    .await
    .map_err(|e| cx.internal("creating a signing secret", e))?
    .ok_or_else(|| cx.refused(StatusCode::NOT_FOUND, "There is no such workflow."))
}

/// Uses the signing secret the sending tool shows (Stripe, Shopify,
/// HubSpot, Zendesk, Svix); the earlier one keeps working for a day.
#[server(endpoint = "paste_webhook_secret")]
pub async fn paste_webhook_secret(slug: String, name: String, secret: String) -> Result<(), AppError> {
    use actix_web::http::StatusCode;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, crate::ssr::EDITORS).await?;
    if let Err(reason) = store::webhook_secrets::check_pasted(secret.trim()) {
        return Err(cx.invalid(vec![engine::FieldError::new("secret", reason)]));
    }
    store::webhook_secrets::paste(
        &cx.state.db,
        &cx.state.settings,
        &me,
        &name,
        &secret,
        store::webhook_secrets::DEFAULT_GRACE_HOURS,
    )
    .await
    .map_err(|e| cx.internal("saving the signing secret", e))?
    .ok_or_else(|| cx.refused(StatusCode::NOT_FOUND, "There is no such workflow."))?;
    Ok(())
}

/// Who may change how long refused records are kept.
#[cfg(feature = "ssr")]
const RETENTION_EDITORS: &[engine::Role] = &[engine::Role::Engineer, engine::Role::Operations, engine::Role::Owner];

/// Sets how many days (1–365) records refused at this workflow's door stay
/// in the exceptions report.
#[server(endpoint = "set_exception_retention")]
pub async fn set_exception_retention(slug: String, name: String, days: String) -> Result<(), AppError> {
    set_kept(&slug, &name, &days, store::retention::Kept::RefusedRecords).await
}

/// Sets how many days (1–3650) the workflow keeps its runs' payloads before the daily purge.
#[server(endpoint = "set_data_retention")]
pub async fn set_data_retention(slug: String, name: String, days: String) -> Result<(), AppError> {
    set_kept(&slug, &name, &days, store::retention::Kept::RunData).await
}

#[cfg(feature = "ssr")]
async fn set_kept(slug: &str, name: &str, days: &str, kept: store::retention::Kept) -> Result<(), AppError> {
    use actix_web::http::StatusCode;
    use store::retention::Kept;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(slug, engine::Page::Workflows, RETENTION_EDITORS).await?;
    let (field, most, what) = match kept {
        Kept::RefusedRecords => ("days", 365, "refused records"),
        Kept::RunData => ("data_days", store::retention::MAX_DAYS, "run data"),
    };
    let days: i32 = match days.trim().parse() {
        Ok(d) if (1..=most).contains(&d) => d,
        _ => {
            return Err(
                cx.invalid(vec![engine::FieldError::new(field, format!("Keep {what} between 1 and {most} days."))])
            )
        }
    };
    if !store::retention::set_days(&cx.state.db, &me, name, kept, days)
        .await
        .map_err(|e| cx.internal("saving the retention", e))?
    {
        return Err(cx.refused(StatusCode::NOT_FOUND, "There is no such workflow."));
    }
    Ok(())
}

/// A shell example that signs the body per Standard Webhooks and sends it.
pub fn curl_example(url: &str, secret: &str, body: &str) -> String {
    format!(
        "SECRET='{secret}'\nBODY='{body}'\nID=\"msg_$(date +%s%N)\"; TS=$(date +%s)\n\
KEY=$(printf '%s' \"${{SECRET#whsec_}}\" | base64 -d | od -An -tx1 | tr -d ' \\n')\n\
SIG=$(printf '%s' \"$ID.$TS.$BODY\" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY -binary | base64)\n\
curl -i -X POST '{url}' \\\n  -H 'content-type: application/json' \\\n  -H \"webhook-id: $ID\" -H \"webhook-timestamp: $TS\" -H \"webhook-signature: v1,$SIG\" \\\n  -d \"$BODY\""
    )
}

#[component]
pub fn Triggers(slug: String, name: String) -> impl IntoView {
    // Loaded in the browser once the page is hydrated (effects never run on
    // the server): this card sits inside the editor page's own suspense, and
    // a second server-rendered resource there would not hydrate in step.
    let triggers = RwSignal::new(None::<Result<TriggersView, AppError>>);
    let load = {
        let (slug, name) = (slug.clone(), name.clone());
        move || {
            let (slug, name) = (slug.clone(), name.clone());
            leptos::task::spawn_local(async move { triggers.set(Some(workflow_triggers(slug, name).await)) });
        }
    };
    Effect::new({
        let load = load.clone();
        move |_| load()
    });
    let rotate = ServerAction::<RotateWebhookSecret>::new();
    let paste = ServerAction::<PasteWebhookSecret>::new();
    let pasted_secret = RwSignal::new(String::new());
    let paste_error = Signal::derive(move || paste.value().get().and_then(|r| r.err()).and_then(|e| e.field("secret")));
    Effect::new({
        let load = load.clone();
        move |_| {
            if matches!(paste.value().get(), Some(Ok(()))) {
                pasted_secret.set(String::new());
                load();
            }
        }
    });
    let set_up = ServerAction::<SetUpTrigger>::new();
    let publish = ServerAction::<super::PublishWorkflowVersion>::new();
    let map_row = ServerAction::<SetMappingRow>::new();
    // The draft the last change on this card saved, whichever form made it.
    let saved = RwSignal::new(None::<i32>);
    Effect::new(move |_| {
        if let Some(Ok(n)) = set_up.value().get() {
            saved.set(Some(n));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(n)) = map_row.value().get() {
            saved.set(Some(n));
        }
    });
    // Publishing changes the whole page (versions, contract, form view): read it afresh.
    Effect::new(move |_| {
        if matches!(publish.value().get(), Some(Ok(()))) {
            let _ = window().location().reload();
        }
    });
    let retain = ServerAction::<SetExceptionRetention>::new();
    let retain_data = ServerAction::<SetDataRetention>::new();
    let data_days_error =
        Signal::derive(move || retain_data.value().get().and_then(|r| r.err()).and_then(|e| e.field("data_days")));
    let days_error = Signal::derive(move || retain.value().get().and_then(|r| r.err()).and_then(|e| e.field("days")));
    let message = Signal::derive(move || rotate.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let new_secret = Signal::derive(move || rotate.value().get().and_then(|r| r.ok()));
    let reload = load.clone();
    Effect::new(move |_| {
        if new_secret.get().is_some() {
            load();
        }
    });
    view! {
        {move || {
                let (slug, name) = (slug.clone(), name.clone());
                    match triggers.get() {
                        None | Some(Err(_)) => ().into_any(),
                        Some(Ok(t)) => {
                            let url = t.webhook_url.clone();
                            let (hook, weakest) = (t.webhook_url.clone(), t.weakest);
                            let body = t.sample_body.clone();
                            let curl = move || curl_example(&url, &new_secret.get().unwrap_or_else(|| "whsec_…your secret…".into()), &body);
                            view! {
                                <section class="card triggers" data-testid="triggers">
                                    <h2>"Ways in"</h2>
                                    {(!t.live).then(|| {
                                        // The way to go live, inside the notice that says it is needed.
                                        let number = t.latest_version;
                                        let (slug, name) = (slug.clone(), name.clone());
                                        view! {
                                            <p class="notice" data-testid="publish-notice">
                                                "Publish a version to start accepting events. "
                                                {t.can_rotate.then(|| view! {
                                                    <button class="button small" type="button" data-testid="publish-latest"
                                                        disabled=move || publish.pending().get()
                                                        on:click=move |_| { publish.dispatch(super::PublishWorkflowVersion { slug: slug.clone(), name: name.clone(), number, without_second_approver: None }); }>
                                                        {format!("Publish version {number}")}
                                                    </button>
                                                })}
                                                {move || publish.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()).map(|m| view! { <span class="field-error">{m}</span> })}
                                            </p>
                                        }
                                    })}
                                    <h3>"Webhook"</h3>
                                    <p class="muted small">{format!("POST JSON or a CloudEvent of type {}; senders prove themselves by ", t.event)}<strong data-testid="signature-scheme">{t.scheme.clone()}</strong>
                                        " (choose another under Sending tool, or set " <code>"signature:"</code> " on the trigger)."</p>
                                    {t.weakest.then(|| view! { <p class="notice warning" data-testid="weakest-proof">"The secret travels in the address: the weakest proof. Use a signature scheme if the sending tool has one."</p> })}
                                    <code class="endpoint" data-testid="webhook-url">{if t.weakest { format!("{}/<secret>", t.webhook_url) } else { t.webhook_url.clone() }}</code>
                                    <p class="small" data-testid="sender-instructions">{t.instructions.clone()}</p>
                                    {t.live.then(|| view! {
                                        <p class="small">"For developers: "
                                            <a data-testid="workflow-openapi" href=format!("/api/v1/t/{slug}/workflows/{name}/openapi.json") rel="external" target="_blank">"this workflow's API document"</a>
                                            " (OpenAPI, with the record's JSON Schema and an example body)."</p>
                                    })}
                                    {move || new_secret.get().map(|s| {
                                        let at = weakest.then(|| format!("{}/{}", hook.clone(), engine::sender_proof::path_form(&s)));
                                        view! {
                                            <div class="secret-once" role="status">
                                                <p><strong>"Signing secret — copy it now; it is not shown again:"</strong></p>
                                                <code data-testid="new-secret">{s}</code>
                                                {at.map(|a| view! { <p><strong>"The address to give the tool:"</strong></p><code data-testid="secret-url">{a}</code> })}
                                            </div>
                                        }
                                    })}
                                    <p class="small">{if t.has_secret { "A signing secret is set." } else { "No signing secret yet: deliveries are refused until you create one." }}</p>
                                    {t.can_rotate.then(|| {
                                        let (slug, name) = (slug.clone(), name.clone());
                                        view! {
                                            <button class="button small" type="button" data-testid="rotate-secret"
                                                disabled=move || rotate.pending().get()
                                                on:click=move |_| { rotate.dispatch(RotateWebhookSecret { slug: slug.clone(), name: name.clone() }); }>
                                                {if t.has_secret { "Rotate signing secret" } else { "Create signing secret" }}
                                            </button>
                                        }
                                    })}
                                    {(t.can_rotate && t.paste_secret).then(|| {
                                        let (slug, name) = (slug.clone(), name.clone());
                                        view! {
                                            <form class="paste-secret" data-testid="paste-secret" novalidate
                                                on:submit=move |ev: leptos::ev::SubmitEvent| {
                                                    ev.prevent_default();
                                                    paste.dispatch(PasteWebhookSecret { slug: slug.clone(), name: name.clone(), secret: pasted_secret.get() });
                                                }>
                                                <div class="field" class:has-error=move || paste_error.get().is_some()>
                                                    <label for="f-paste-secret">"Signing secret from the sending tool"</label>
                                                    <input id="f-paste-secret" name="secret" type="password" autocomplete="off"
                                                        prop:value=move || pasted_secret.get() on:input=move |ev| pasted_secret.set(event_target_value(&ev)) />
                                                    <p class="field-error" role="alert">{move || paste_error.get().unwrap_or_default()}</p>
                                                </div>
                                                <button class="button small" type="submit" disabled=move || paste.pending().get()>"Use this secret"</button>
                                                {move || matches!(paste.value().get(), Some(Ok(()))).then(|| view! { <span class="muted small" data-testid="secret-pasted">" Saved. Deliveries signed with it are accepted now."</span> })}
                                            </form>
                                        }
                                    })}
                                    <FormError message />
                                    {(t.scheme == "standard_webhooks").then(|| view! {
                                        <details>
                                            <summary>"Signed curl example"</summary>
                                            <CopyButton target="curl-example" />
                                            <pre class="snippet" tabindex="0" data-testid="curl-example">{curl}</pre>
                                        </details>
                                    })}
                                    {t.can_rotate.then(|| view! {
                                        <SetUp slug=slug.clone() name=name.clone() card=t.clone() set_up />
                                    })}
                                    <Mapping slug=slug.clone() name=name.clone() card=t.clone() map_row />
                                    {{ let (slug, name) = (slug.clone(), name.clone()); move || saved.get().map(|n| view! { <DraftNotice slug=slug.clone() name=name.clone() number=n publish /> }) }}
                                    {t.form_url.clone().map(|form_url| view! {
                                        <h3>"Form"</h3>
                                        <p><a href=form_url.clone() rel="external" target="_blank" data-testid="form-link">{form_url.clone()}</a></p>
                                        {t.can_rotate.then(|| t.form_words.clone()).flatten().map(|words| view! {
                                            <super::hosted_form::FormWordsEditor slug=slug.clone() name=name.clone() words form_url=form_url.clone() />
                                        })}
                                        <details>
                                            <summary>"Embed on your site"</summary>
                                            <CopyButton target="form-snippet" />
                                            <pre class="snippet" tabindex="0" data-testid="form-snippet">{t.form_snippet.clone().unwrap_or_default()}</pre>
                                        </details>
                                    })}
                                    <h3>"Refused records"</h3>
                                    <p class="small">"Records that break the data contract are refused with every reason and kept in the "
                                        <a href=format!("/t/{slug}/runs/exceptions")>"exceptions report"</a>"."</p>
                                    {t.can_set_retention.then(|| { let (slug, name) = (slug.clone(), name.clone()); view! {
                                        <ActionForm action=retain attr:class="retention-form">
                                            <input type="hidden" name="slug" value=slug.clone() />
                                            <input type="hidden" name="name" value=name.clone() />
                                            <div class="field" class:has-error=move || days_error.get().is_some()>
                                                <label for="f-retention">"Keep them for (days)"</label>
                                                <input id="f-retention" name="days" type="number" min="1" max="365" value=t.retention_days.to_string() />
                                                <p class="field-error" role="alert">{move || days_error.get().unwrap_or_default()}</p>
                                            </div>
                                            <button class="button small" type="submit" data-testid="save-retention">"Save"</button>
                                            {move || matches!(retain.value().get(), Some(Ok(()))).then(|| view! { <span class="muted small">" Saved."</span> })}
                                        </ActionForm>
                                    }})}
                                    <h3>"Run data"</h3>
                                    <p class="small">"Each run's event, step inputs and outputs, drafts and the emails that carried them are removed this many days after the run finished. Times, costs and report figures stay."</p>
                                    {t.can_set_retention.then(|| { let (slug, name) = (slug.clone(), name.clone()); view! {
                                        <ActionForm action=retain_data attr:class="retention-form">
                                            <input type="hidden" name="slug" value=slug.clone() />
                                            <input type="hidden" name="name" value=name.clone() />
                                            <div class="field" class:has-error=move || data_days_error.get().is_some()>
                                                <label for="f-data-retention">"Keep run data for (days)"</label>
                                                <input id="f-data-retention" name="days" type="number" min="1" max="3650" value=t.data_retention_days.to_string() />
                                                <p class="field-error" role="alert">{move || data_days_error.get().unwrap_or_default()}</p>
                                            </div>
                                            <button class="button small" type="submit" data-testid="save-data-retention">"Save"</button>
                                            {move || matches!(retain_data.value().get(), Some(Ok(()))).then(|| view! { <span class="muted small">" Saved."</span> })}
                                        </ActionForm>
                                    }})}
                                    <h3>"Recent deliveries"</h3>
                                    <p class="small">"Sent a test from the tool? "
                                        <button class="button small" type="button" data-testid="check-delivery" on:click={ let reload = reload.clone(); move |_| reload() }>"Check the last delivery"</button></p>
                                    {t.deliveries.first().map(|d| view! {
                                        <p class=if d.status_code < 300 { "notice" } else { "notice warning" } data-testid="last-verdict">
                                            {if d.status_code < 300 { format!("Last delivery ({}): accepted.", d.at) } else { format!("Last delivery ({}): refused, {} — {}", d.at, d.outcome, d.reason) }}
                                        </p>
                                    })}
                                    <Deliveries slug=slug.clone() rows=t.deliveries.clone() />
                                </section>
                            }.into_any()
                        }
                    }
        }}
    }
}

/// Choosing the sending tool (a mapping preset) and how it proves itself,
/// saved as a new draft version that can be published right here.
#[component]
fn SetUp(slug: String, name: String, card: TriggersView, set_up: ServerAction<SetUpTrigger>) -> impl IntoView {
    let error = move |field: &'static str| {
        Signal::derive(move || set_up.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
    };
    let (preset_error, scheme_error) = (error("preset"), error("scheme"));
    let (header_error, username_error) = (error("header"), error("username"));
    let preset = RwSignal::new(card.preset.as_ref().map(|p| p.name.clone()).unwrap_or_default());
    let scheme = RwSignal::new(card.scheme.clone());
    let header = RwSignal::new(card.signature_header.clone());
    let username = RwSignal::new(card.signature_username.clone());
    let presets = card.presets.clone();
    let choose_preset = move |ev: leptos::ev::Event| {
        let chosen = event_target_value(&ev);
        // A vendor's preset comes with the way that vendor signs.
        if let Some(p) = presets.iter().find(|p| p.name == chosen) {
            scheme.set(p.scheme.clone());
        }
        preset.set(chosen);
    };
    view! {
        <h3>"Sending tool"</h3>
        <form class="set-up-trigger" data-testid="set-up-trigger" novalidate
            on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                set_up.dispatch(SetUpTrigger {
                    slug: slug.clone(),
                    name: name.clone(),
                    scheme: scheme.get(),
                    preset: preset.get(),
                    header: header.get(),
                    username: username.get(),
                });
            }>
            <div class="field" class:has-error=move || preset_error.get().is_some()>
                <label for="f-preset">"Tool and event"</label>
                <select id="f-preset" prop:value=move || preset.get() on:change=choose_preset>
                    <option value="">"None: the payload is the record"</option>
                    {card.presets.iter().map(|p| view! { <option value=p.name.clone() selected=card.preset.as_ref().is_some_and(|c| c.name == p.name)>{p.title.clone()}</option> }).collect_view()}
                </select>
                <p class="field-error" role="alert">{move || preset_error.get().unwrap_or_default()}</p>
            </div>
            <div class="field" class:has-error=move || scheme_error.get().is_some()>
                <label for="f-scheme">"How it proves itself"</label>
                <select id="f-scheme" prop:value=move || scheme.get() on:change=move |ev| scheme.set(event_target_value(&ev))>
                    {card.schemes.iter().map(|(value, label)| view! { <option value=value.clone() selected=*value == card.scheme>{label.clone()}</option> }).collect_view()}
                </select>
                <p class="field-error" role="alert">{move || scheme_error.get().unwrap_or_default()}</p>
            </div>
            {move || matches!(scheme.get().as_str(), "hmac_sha256" | "header_secret").then(|| view! {
                <div class="field" class:has-error=move || header_error.get().is_some()>
                    <label for="f-signature-header">"Header the tool sends"</label>
                    <input id="f-signature-header" placeholder="X-Signature" prop:value=move || header.get()
                        on:input=move |ev| header.set(event_target_value(&ev)) />
                    <p class="field-error" role="alert">{move || header_error.get().unwrap_or_default()}</p>
                </div>
            })}
            {move || (scheme.get() == "basic_auth").then(|| view! {
                <div class="field" class:has-error=move || username_error.get().is_some()>
                    <label for="f-signature-username">"User name the tool sends"</label>
                    <input id="f-signature-username" prop:value=move || username.get()
                        on:input=move |ev| username.set(event_target_value(&ev)) />
                    <p class="field-error" role="alert">{move || username_error.get().unwrap_or_default()}</p>
                </div>
            })}
            <button class="button small" type="submit" data-testid="save-trigger" disabled=move || set_up.pending().get()>"Save as a new version"</button>
        </form>
    }
}

/// The draft a change on the card saved, with the button that makes it live.
#[component]
fn DraftNotice(
    slug: String,
    name: String,
    number: i32,
    publish: ServerAction<super::PublishWorkflowVersion>,
) -> impl IntoView {
    let published = move || matches!(publish.value().get(), Some(Ok(())));
    view! {
        <p class="notice" data-testid="trigger-saved">
            {format!("Saved as version {number}, a draft: deliveries follow the live version until you publish it. ")}
            <button class="button small" type="button" data-testid="publish-trigger"
                disabled=move || publish.pending().get() || published()
                on:click=move |_| { publish.dispatch(super::PublishWorkflowVersion { slug: slug.clone(), name: name.clone(), number, without_second_approver: None }); }>
                {format!("Publish version {number}")}
            </button>
            {move || publish.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()).map(|m| view! { <span class="field-error">{m}</span> })}
        </p>
    }
}

/// The trigger's mapping: the preset in use, what to set in the tool, each
/// record field with the expression that fills it, and (for editors) a row
/// editor that saves the trigger's own rows as a new draft.
#[component]
fn Mapping(slug: String, name: String, card: TriggersView, map_row: ServerAction<SetMappingRow>) -> impl IntoView {
    let error = move |field: &'static str| {
        Signal::derive(move || map_row.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
    };
    let (field_error, expression_error) = (error("field"), error("expression"));
    if card.mapping.is_empty() && card.preset.is_none() && !card.can_rotate {
        return ().into_any();
    }
    let field = RwSignal::new(String::new());
    let expression = RwSignal::new(String::new());
    let editor = card.can_rotate.then(|| view! {
        <form class="set-up-trigger" data-testid="mapping-row" novalidate
            on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                map_row.dispatch(SetMappingRow { slug: slug.clone(), name: name.clone(), field: field.get(), expression: expression.get() });
            }>
            <div class="field" class:has-error=move || field_error.get().is_some()>
                <label for="f-map-field">"Record field"</label>
                <input id="f-map-field" placeholder="customer.email" prop:value=move || field.get() on:input=move |ev| field.set(event_target_value(&ev)) />
                <p class="field-error" role="alert">{move || field_error.get().unwrap_or_default()}</p>
            </div>
            <div class="field" class:has-error=move || expression_error.get().is_some()>
                <label for="f-map-expression">"From the payload"</label>
                <input id="f-map-expression" placeholder="data.object.customer_email" prop:value=move || expression.get() on:input=move |ev| expression.set(event_target_value(&ev)) />
                <p class="field-error" role="alert">{move || expression_error.get().unwrap_or_default()}</p>
            </div>
            <button class="button small" type="submit" data-testid="save-mapping-row" disabled=move || map_row.pending().get()>"Save row as a new version"</button>
        </form>
    });
    view! {
        <h3>"Mapping"</h3>
        {card.preset.map(|p| view! {
            <p class="small">"Preset: " <strong data-testid="mapping-preset">{p.title.clone()}</strong>
                {format!(" — makes {} records, checked by that data contract. ", p.data_contract)}{p.setup.clone()}" "
                <a href=p.documentation.clone() rel="external noopener" target="_blank">"The vendor's payload"</a></p>
            {p.contract_missing.then(|| view! {
                <p class="notice warning" data-testid="preset-contract-missing">{format!("This business has no {} data contract yet, so mapped records are not checked: add it under Data contracts.", p.data_contract)}</p>
            })}
            {p.body_to_send.map(|body| view! {
                <details open>
                    <summary>"JSON body to paste in the tool"</summary>
                    <CopyButton target="body-to-send" />
                    <pre class="snippet" tabindex="0" data-testid="body-to-send">{body}</pre>
                </details>
            })}
        })}
        {(!card.mapping.is_empty()).then(|| view! {
        <table class="table mapping" data-testid="mapping">
            <thead><tr><th>"Record field"</th><th>"From the tool's payload"</th></tr></thead>
            <tbody>
                {card.mapping.into_iter().map(|row| {
                    let (f, e) = (row.field.clone(), row.expression.clone());
                    view! {
                        <tr>
                            <td data-label="Record field"><code>{row.field}</code></td>
                            <td data-label="From the payload"><code class="expression">{row.expression}</code>
                                {row.own.then(|| view! { <span class="badge">"this trigger's own"</span> })}
                                {card.can_rotate.then(|| view! {
                                    <button class="button small link" type="button" data-testid="edit-mapping-row"
                                        on:click=move |_| { field.set(f.clone()); expression.set(e.clone()); }>"Edit"</button>
                                })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        })}
        {editor}
        <p class="muted small">"A row of the trigger's own replaces the preset's (it is written under " <code>"mapping:"</code>
            " on the trigger; saved empty, it is removed). Expressions read the sender's payload, e.g. " <code>"data.object.id"</code>", "
            <code>"created | from_unix"</code>". A record the mapping cannot fill is refused with the reason and kept in the exceptions report."</p>
    }
    .into_any()
}

#[component]
fn Deliveries(slug: String, rows: Vec<DeliveryView>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted small">"Nothing has arrived yet."</p> }.into_any();
    }
    view! {
        <table class="table deliveries" data-testid="deliveries">
            <thead><tr><th>"When"</th><th>"Channel"</th><th>"Outcome"</th><th>"Run"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|d| view! {
                    <tr>
                        <td data-label="When">{d.at}</td>
                        <td data-label="Channel">{d.channel}</td>
                        <td data-label="Outcome">
                            <span class=format!("badge outcome-{}", d.outcome)>{format!("{} {}", d.outcome, d.status_code)}</span>
                            {(!d.reason.is_empty()).then(|| view! { <div class="muted small">{d.reason}</div> })}
                        </td>
                        <td data-label="Run">{d.run_id.map(|r| view! { <a href=format!("/t/{slug}/runs/{r}")>{r[..8].to_string()}</a> })}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
