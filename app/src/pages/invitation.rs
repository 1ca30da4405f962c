//! `/invite/<token>`: accepting an invitation sets a password and signs in.

use crate::components::field::{Field, FormError};
use crate::error::AppError;
use crate::views::InvitationInfo;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[cfg(feature = "ssr")]
fn problem(cx: &crate::ssr::Ctx, p: store::invitations::InvitationProblem) -> AppError {
    use actix_web::http::StatusCode;
    use store::invitations::InvitationProblem::*;
    match p {
        Storage(e) => cx.internal("reading the invitation", e),
        Tampered => cx.refused(StatusCode::NOT_FOUND, Tampered.to_string()),
        other => cx.refused(StatusCode::GONE, other.to_string()),
    }
}

#[server(endpoint = "load_invitation")]
pub async fn load_invitation(token: String) -> Result<InvitationInfo, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let view =
        store::invitations::inspect(&cx.state.db, &cx.state.settings, &token).await.map_err(|p| problem(&cx, p))?;
    Ok(InvitationInfo {
        business_name: view.business_name,
        email: view.invitation.email,
        role: engine::Role::parse(&view.invitation.role).unwrap_or(engine::Role::Reviewer),
        has_account: view.has_account,
    })
}

#[server(endpoint = "accept_invitation")]
pub async fn accept_invitation(token: String, password: String) -> Result<(), AppError> {
    use store::invitations::{accept, AcceptError};
    let cx = crate::ssr::Ctx::get().await?;
    let state = &cx.state;
    let (user_id, tenant_id) = match accept(&state.db, &state.settings, &token, &password).await {
        Ok(ids) => ids,
        Err(AcceptError::Field(f)) => return Err(cx.invalid(vec![f])),
        Err(AcceptError::Problem(p)) => return Err(problem(&cx, p)),
    };
    let token = store::auth::start_session(&state.db, &state.settings, user_id, tenant_id)
        .await
        .map_err(|e| cx.internal("signing you in", e))?;
    cx.set_cookie(&store::auth::session_cookie(&state.settings, &token));
    use sea_orm::EntityTrait;
    let slug = store::entities::tenant::Entity::find_by_id(tenant_id)
        .one(&state.db)
        .await
        .ok()
        .flatten()
        .map(|t| t.slug)
        .unwrap_or_default();
    leptos_actix::redirect(&format!("/t/{slug}"));
    Ok(())
}

#[component]
pub fn AcceptInvitationPage() -> impl IntoView {
    let params = use_params_map();
    let token = params.read_untracked().get("token").unwrap_or_default();
    let info = crate::resource::new(
        {
            let token = token.clone();
            move || token.clone()
        },
        load_invitation,
    );
    view! {
        <Title text="Accept invitation" />
        <main class="centered">
            <div class="card narrow">
                <a class="brand" href="/">"Steward"</a>
                <Suspense fallback=|| view! { <p>"Checking your invitation…"</p> }>
                    {
                        let token = token.clone();
                        move || {
                            let token = token.clone();
                            Suspend::new(async move {
                                match info.await {
                                    Ok(info) => view! { <AcceptForm token info /> }.into_any(),
                                    Err(e) => view! {
                                        <h1>"This invitation cannot be used"</h1>
                                        <p class="form-error" data-testid="invitation-problem">{e.form_message().unwrap_or_else(|| e.to_string())}</p>
                                        <a class="button" href="/login">"Go to sign in"</a>
                                    }.into_any(),
                                }
                            })
                        }
                    }
                </Suspense>
            </div>
        </main>
    }
}

#[component]
fn AcceptForm(token: String, info: InvitationInfo) -> impl IntoView {
    let action = ServerAction::<AcceptInvitation>::new();
    let password = RwSignal::new(String::new());
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.field("password")));
    let form_message =
        Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let on_submit = {
        let token = token.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            action.dispatch(AcceptInvitation { token: token.clone(), password: password.get() });
        }
    };
    let (label, hint) = if info.has_account {
        ("Your Steward password", "You already have a Steward account; confirm it with your password.")
    } else {
        ("Choose a password", "At least 12 characters; a short sentence works well.")
    };
    view! {
        <h1>{format!("Join {}", info.business_name)}</h1>
        <p class="muted">{format!("You were invited as {} ({}).", info.role.label(), info.email)}</p>
        <form method="post" action=AcceptInvitation::PATH on:submit=on_submit novalidate>
            <input type="hidden" name="token" value=token />
            <Field name="password" label=label kind="password" value=password error=error hint=hint autocomplete="new-password" />
            <FormError message=form_message />
            <button class="button primary wide" type="submit" disabled=move || action.pending().get()>"Accept and sign in"</button>
        </form>
    }
}
