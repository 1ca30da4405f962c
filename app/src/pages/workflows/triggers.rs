//! A workflow's ways in, on its page: the webhook URL with a signing secret
//! shown once, a copyable signed `curl` example, the hosted form and its
//! embeddable snippet, and recent deliveries with what became of them.

use crate::components::copy::CopyButton;
use crate::components::field::FormError;
use crate::error::AppError;
use crate::views::{DeliveryView, TriggersView};
use leptos::prelude::*;

#[server(endpoint = "workflow_triggers")]
pub async fn workflow_triggers(slug: String, name: String) -> Result<TriggersView, AppError> {
    use actix_web::http::StatusCode;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Workflows).await?;
    let state = &cx.state;
    let public = state.settings.public_url.as_str().trim_end_matches('/').to_owned();
    let yaml = store::workflows::detail(&state.db, &me, &name)
        .await
        .map_err(|_| cx.refused(StatusCode::NOT_FOUND, "There is no such workflow."))?;
    let version = yaml.workflow.live_version.unwrap_or(yaml.workflow.latest_version);
    let source = store::workflows::version_yaml(&state.db, &me, &name, version)
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
    let has_secret = store::webhook_secrets::has_secret(&state.db, &me.tenant, &name)
        .await
        .map_err(|e| cx.internal("reading the triggers", e))?;
    let retention_days = store::ingest::exception_retention(&state.db, &me.tenant, &name)
        .await
        .map_err(|e| cx.internal("reading the triggers", e))?
        .unwrap_or(30);
    let deliveries = store::runs::deliveries(&state.db, &me.tenant, &name, 20)
        .await
        .map_err(|e| cx.internal("reading deliveries", e))?;
    let sample = data_contract.as_ref().map(|d| d.sample(chrono::Utc::now())).unwrap_or_else(|| serde_json::json!({}));
    let form = contract.trigger.is_form().then_some(data_contract.as_ref()).flatten();
    let signature = contract.trigger.signature();
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
        form_snippet: form.map(|d| engine::form::snippet(&public, &slug, &name, d)),
        live: yaml.workflow.live_version.is_some(),
        can_rotate: crate::ssr::EDITORS.contains(&me.role),
        retention_days,
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
    })
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
    use actix_web::http::StatusCode;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, RETENTION_EDITORS).await?;
    let days: i32 = match days.trim().parse() {
        Ok(d) if (1..=365).contains(&d) => d,
        _ => {
            return Err(
                cx.invalid(vec![engine::FieldError::new("days", "Keep refused records between 1 and 365 days.")])
            )
        }
    };
    if !store::ingest::set_exception_retention(&cx.state.db, &me, &name, days)
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
    let retain = ServerAction::<SetExceptionRetention>::new();
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
                                    {(!t.live).then(|| view! { <p class="notice">"Publish a version to start accepting events."</p> })}
                                    <h3>"Webhook"</h3>
                                    <p class="muted small">{format!("POST JSON or a CloudEvent of type {}; senders prove themselves by ", t.event)}<strong data-testid="signature-scheme">{t.scheme.clone()}</strong>
                                        " (set " <code>"signature:"</code> " on the trigger to change it)."</p>
                                    {t.weakest.then(|| view! { <p class="notice warning" data-testid="weakest-proof">"The secret travels in the address: the weakest proof. Use a signature scheme if the sending tool has one."</p> })}
                                    <code class="endpoint" data-testid="webhook-url">{if t.weakest { format!("{}/<secret>", t.webhook_url) } else { t.webhook_url.clone() }}</code>
                                    <p class="small" data-testid="sender-instructions">{t.instructions.clone()}</p>
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
                                    <details>
                                        <summary>"Signed curl example"</summary>
                                        <CopyButton target="curl-example" />
                                        <pre class="snippet" data-testid="curl-example">{curl}</pre>
                                    </details>
                                    {t.form_url.clone().map(|form_url| view! {
                                        <h3>"Form"</h3>
                                        <p><a href=form_url.clone() rel="external" target="_blank" data-testid="form-link">{form_url.clone()}</a></p>
                                        <details>
                                            <summary>"Embed on your site"</summary>
                                            <CopyButton target="form-snippet" />
                                            <pre class="snippet" data-testid="form-snippet">{t.form_snippet.clone().unwrap_or_default()}</pre>
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
