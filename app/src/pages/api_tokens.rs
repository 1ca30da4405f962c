//! API tokens (owners; engineers their own): programs call the JSON API
//! with `Authorization: Bearer <token>`. Made with a name, what it may do
//! (within the maker's role), optionally which workflows it may send to and
//! when it expires; shown once; listed with when and from where it was last
//! used; revoked at once.

use crate::components::confirm_button::ConfirmButton;
use crate::components::field::{Field, FormError};
use crate::components::refusal::Refusal;
use crate::error::AppError;
use engine::token_scope::TokenScope;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

/// One token as the page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<TokenScope>,
    pub workflows: Option<Vec<String>>,
    pub created_by: String,
    pub created: String,
    pub expires: Option<String>,
    /// active, expired or revoked.
    pub state: String,
    pub last_used: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokensView {
    pub tokens: Vec<TokenRow>,
    /// What the viewer's role lets a token of theirs do.
    pub scopes: Vec<TokenScope>,
    pub workflows: Vec<String>,
    pub owner: bool,
}

#[server(endpoint = "list_api_tokens")]
pub async fn list_api_tokens(slug: String) -> Result<TokensView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::ApiTokens).await?;
    let db = &cx.state.db;
    let tokens = store::api_tokens::list(db, &me).await.map_err(|e| cx.internal("listing API tokens", e))?;
    let workflows = store::workflows::list(db, &me)
        .await
        .map_err(|e| cx.internal("listing workflows", e))?
        .into_iter()
        .map(|w| w.name)
        .collect();
    let now = chrono::Utc::now();
    let when = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    Ok(TokensView {
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id.to_string(),
                state: if t.revoked_at.is_some() {
                    "revoked".into()
                } else if t.expires_at.is_some_and(|e| e <= now) {
                    "expired".into()
                } else {
                    "active".into()
                },
                name: t.name,
                prefix: t.prefix,
                scopes: t.scopes,
                workflows: t.workflows,
                created_by: t.created_by,
                created: when(t.created_at),
                expires: t.expires_at.map(when),
                last_used: t.last_used_at.map(|at| match t.last_used_from {
                    Some(from) => format!("{} from {from}", when(at)),
                    None => when(at),
                }),
            })
            .collect(),
        scopes: TokenScope::ALL.into_iter().filter(|s| s.allowed_for(me.role)).collect(),
        workflows,
        owner: me.role == engine::Role::Owner,
    })
}

/// The token just made, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTokenView {
    pub token: String,
    pub prefix: String,
}

/// `scopes`: comma-separated (`send_events,read_runs`); `workflows`: comma-separated names, empty for all;
/// `expires_in_days`: empty for never.
#[server(endpoint = "create_api_token")]
pub async fn create_api_token(
    slug: String,
    name: String,
    scopes: String,
    workflows: String,
    expires_in_days: String,
) -> Result<NewTokenView, AppError> {
    use engine::FieldError;
    use store::api_tokens::{NewToken, TokenError};
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::ApiTokens).await?;
    let mut parsed = Vec::new();
    for s in scopes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match TokenScope::parse(s) {
            Some(scope) => parsed.push(scope),
            None => return Err(cx.invalid(vec![FieldError::new("scopes", format!("Unknown scope {s}."))])),
        }
    }
    let expires_in_days =
        match expires_in_days.trim() {
            "" | "never" => None,
            days => Some(days.parse::<i64>().map_err(|_| {
                cx.invalid(vec![FieldError::new("expires_in_days", "Choose a number of days, or never.")])
            })?),
        };
    let new = NewToken {
        name,
        scopes: parsed,
        workflows: workflows.split(',').map(|w| w.trim().to_owned()).filter(|w| !w.is_empty()).collect(),
        expires_in_days,
    };
    match store::api_tokens::create(&cx.state.db, &me, &new).await {
        Ok(made) => Ok(NewTokenView { token: made.token, prefix: made.prefix }),
        Err(TokenError::Invalid(field, message)) => Err(cx.invalid(vec![FieldError::new(field, message)])),
        Err(TokenError::Forbidden(message)) => Err(cx.refused(actix_web::http::StatusCode::FORBIDDEN, message)),
        Err(e) => Err(cx.internal("making an API token", e)),
    }
}

#[server(endpoint = "revoke_api_token")]
pub async fn revoke_api_token(slug: String, id: String) -> Result<(), AppError> {
    use actix_web::http::StatusCode;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::ApiTokens).await?;
    let id =
        uuid::Uuid::parse_str(&id).map_err(|_| cx.invalid(vec![engine::FieldError::new("id", "Not a token id.")]))?;
    match store::api_tokens::revoke(&cx.state.db, &me, id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(cx.refused(StatusCode::NOT_FOUND, "There is no such active token of yours here.")),
        Err(store::api_tokens::TokenError::Forbidden(m)) => Err(cx.refused(StatusCode::FORBIDDEN, m)),
        Err(e) => Err(cx.internal("revoking an API token", e)),
    }
}

#[component]
pub fn ApiTokensPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = crate::resource::new(
        move || (slug.get(), create.version().get(), revoke.version().get()),
        |(slug, ..)| list_api_tokens(slug),
    );
    // The form reads what it offers once, so a refused attempt keeps what was typed while the list reloads.
    let offered = crate::resource::new(move || slug.get(), list_api_tokens);
    let revoke_message =
        Signal::derive(move || revoke.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    view! {
        <Title text="API tokens" />
        <section class="page-head">
            <h1>"API tokens"</h1>
            <p class="muted">
                "Programs call Steward's JSON API (events, run status, review decisions, bundle export) with "
                <code>"Authorization: Bearer <token>"</code>
                " instead of a person's password. A token acts as the member who made it and never does more than their role allows. "
                <a href="/api/openapi.json">"The API document"</a>" describes every route."
            </p>
        </section>
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match offered.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(v) => view! {
                        <MakeToken slug=slug.get_untracked() scopes=v.scopes workflows=v.workflows action=create />
                    }.into_any(),
                }
            })}
        </Suspense>
        <FormError message=revoke_message />
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match tokens.await {
                    // The refusal is shown once, above.
                    Err(_) => ().into_any(),
                    Ok(v) => view! { <TokenTable slug=slug.get_untracked() tokens=v.tokens owner=v.owner revoke /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn MakeToken(
    slug: String,
    scopes: Vec<TokenScope>,
    workflows: Vec<String>,
    action: ServerAction<CreateApiToken>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let chosen = RwSignal::new(Vec::<TokenScope>::new());
    let only = RwSignal::new(String::new());
    let expiry = RwSignal::new("90".to_string());
    let error = move |field: &'static str| {
        Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
    };
    let form_message =
        Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let made = Signal::derive(move || action.value().get().and_then(|r| r.ok()));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let scopes = chosen.get().iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
        action.dispatch(CreateApiToken {
            slug: slug.clone(),
            name: name.get(),
            scopes,
            workflows: only.get(),
            expires_in_days: expiry.get(),
        });
    };
    let hint = format!(
        "Workflows here: {}.",
        if workflows.is_empty() { "none yet".to_string() } else { workflows.join(", ") }
    );
    view! {
        <section class="card">
            <h2>"Make a token"</h2>
            <form class="token-form" data-testid="make-token" on:submit=on_submit novalidate>
                <Field name="name" label="Name" value=name error=error("name") hint="After the tool that will use it, e.g. Zapier" />
                <fieldset class="field scope-choices">
                    <legend>"It may"</legend>
                    {scopes.into_iter().map(|scope| view! {
                        <label class="check">
                            <input type="checkbox" name="scopes" value=scope.as_str() data-testid=format!("scope-{}", scope.as_str())
                                prop:checked=move || chosen.get().contains(&scope)
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    chosen.update(|c| { c.retain(|s| *s != scope); if on { c.push(scope); } });
                                } />
                            {scope.label()}
                        </label>
                    }).collect_view()}
                    <p class="field-error" role="alert" id="field-scopes-error">{move || error("scopes").get().unwrap_or_default()}</p>
                </fieldset>
                <Field name="workflows" label="Only these workflows (optional)" value=only error=error("workflows") hint=hint />
                <div class="field">
                    <label for="field-expires">"Expires"</label>
                    <select id="field-expires" name="expires_in_days" on:change=move |ev| expiry.set(event_target_value(&ev)) prop:value=move || expiry.get()>
                        <option value="30">"in 30 days"</option>
                        <option value="90">"in 90 days"</option>
                        <option value="365">"in a year"</option>
                        <option value="never">"never (until revoked)"</option>
                    </select>
                    <p class="field-error" role="alert">{move || error("expires_in_days").get().unwrap_or_default()}</p>
                </div>
                <button class="button primary" type="submit" disabled=move || action.pending().get()>"Make token"</button>
            </form>
            <FormError message=form_message />
            <Show when=move || made.get().is_some()>
                <div class="notice" role="status" data-testid="token-made">
                    <p>"Copy this token now: Steward keeps only its hash and will not show it again."</p>
                    <p><code class="secret" data-testid="new-token">{move || made.get().map(|m| m.token).unwrap_or_default()}</code></p>
                </div>
            </Show>
        </section>
    }
}

#[component]
fn TokenTable(slug: String, tokens: Vec<TokenRow>, owner: bool, revoke: ServerAction<RevokeApiToken>) -> impl IntoView {
    if tokens.is_empty() {
        return view! {
            <section class="card">
                <h2>"Tokens"</h2>
                <p class="muted" data-testid="no-tokens">
                    {if owner { "No API tokens yet. Tokens you and your engineers make appear here." } else { "You have no API tokens yet. Tokens you make appear here." }}
                </p>
            </section>
        }
        .into_any();
    }
    let rows = tokens
        .into_iter()
        .map(|t| {
            let (slug, id) = (slug.clone(), t.id.clone());
            let active = t.state == "active";
            let scopes = t.scopes.iter().map(|s| s.label()).collect::<Vec<_>>().join(", ");
            let reach = t.workflows.clone().map(|w| w.join(", ")).unwrap_or_else(|| "all workflows".into());
            view! {
                <tr data-testid="token-row">
                    <td data-label="Name">{t.name.clone()}<br /><code class="muted small">{t.prefix.clone()}"…"</code></td>
                    <td data-label="May">{scopes}<br /><span class="muted small">{reach}</span></td>
                    <td data-label="Made">{t.created.clone()}<br /><span class="muted small">{format!("by {}", t.created_by)}</span></td>
                    <td data-label="Expires">{t.expires.clone().unwrap_or_else(|| "never".into())}</td>
                    <td data-label="Last used" data-testid="token-last-used">{t.last_used.clone().unwrap_or_else(|| "never".into())}</td>
                    <td data-label="State"><span class=format!("badge state-{}", t.state) data-testid="token-state">{t.state.clone()}</span></td>
                    <td class="actions">
                        <Show when=move || active>
                            <ConfirmButton label="Revoke" confirm="Confirm revoke" testid="revoke-token"
                                on_confirm=Callback::new({
                                    let (slug, id) = (slug.clone(), id.clone());
                                    move |_| { revoke.dispatch(RevokeApiToken { slug: slug.clone(), id: id.clone() }); }
                                }) />
                        </Show>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card">
            <h2>"Tokens"</h2>
            <table class="table">
                <thead><tr><th>"Name"</th><th>"May"</th><th>"Made"</th><th>"Expires"</th><th>"Last used"</th><th>"State"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
    .into_any()
}
