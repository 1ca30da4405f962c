//! Signing in: `/t/<slug>/login` for one business, `/login` asks which.
//! After the password comes the second factor when the person has one, or
//! its set-up when the business requires one.

use crate::components::field::{Field, FormError};
use crate::components::two_factor::{AuthenticatorSetUp, RecoveryCodes};
use crate::error::AppError;
use crate::views::EnrolmentView;
use serde::{Deserialize, Serialize};

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// What the sign-in page shows after the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignInNext {
    /// Signed in; the answer redirects to the workspace.
    Workspace,
    /// Ask for the authenticator code (or a recovery code).
    Code,
    /// The business requires a second factor the person has not set up yet.
    SetUp,
}

#[server(endpoint = "sign_in")]
pub async fn sign_in(slug: String, email: String, password: String) -> Result<SignInNext, AppError> {
    use store::sign_in::{sign_in as check, SignInError, SignInStep};
    let cx = crate::ssr::Ctx::get().await?;
    let mut missing = Vec::new();
    if slug.trim().is_empty() {
        missing.push(engine::FieldError::new("slug", "Enter your business's address."));
    }
    if email.trim().is_empty() {
        missing.push(engine::FieldError::new("email", "Enter your email."));
    }
    if password.is_empty() {
        missing.push(engine::FieldError::new("password", "Enter your password."));
    }
    if !missing.is_empty() {
        return Err(cx.invalid(missing));
    }
    let state = &cx.state;
    let slug = slug.trim().to_lowercase();
    match check(&state.db, &state.settings, &state.throttle, &slug, &email, &password, &cx.client_address()).await {
        Ok(SignInStep::SignedIn(token)) => {
            cx.set_cookie(&store::auth::session_cookie(&state.settings, &token));
            leptos_actix::redirect(&format!("/t/{slug}"));
            Ok(SignInNext::Workspace)
        }
        Ok(SignInStep::CodeNeeded(pending)) => {
            cx.set_cookie(&store::auth::pending_cookie(&state.settings, Some(&pending)));
            Ok(SignInNext::Code)
        }
        Ok(SignInStep::SetUpNeeded(pending)) => {
            cx.set_cookie(&store::auth::pending_cookie(&state.settings, Some(&pending)));
            Ok(SignInNext::SetUp)
        }
        Err(SignInError::UnknownBusiness) => {
            Err(cx.invalid(vec![engine::FieldError::new("slug", SignInError::UnknownBusiness.to_string())]))
        }
        Err(e) => Err(sign_in_refusal(&cx, e)),
    }
}

#[cfg(feature = "ssr")]
fn sign_in_refusal(cx: &crate::ssr::Ctx, e: store::sign_in::SignInError) -> AppError {
    use actix_web::http::StatusCode;
    use store::sign_in::SignInError;
    match e {
        e @ SignInError::WrongCode => cx.invalid(vec![engine::FieldError::new("code", e.to_string())]),
        e @ (SignInError::BadCredentials | SignInError::StartAgain | SignInError::UnknownBusiness) => {
            cx.refused(StatusCode::UNAUTHORIZED, e.to_string())
        }
        SignInError::Throttled(message) => cx.refused(StatusCode::TOO_MANY_REQUESTS, message),
        e @ SignInError::Unavailable(_) => cx.internal("signing you in", e),
    }
}

#[cfg(feature = "ssr")]
fn code_typed(cx: &crate::ssr::Ctx, code: &str) -> Result<(), AppError> {
    if code.trim().is_empty() {
        return Err(cx.invalid(vec![engine::FieldError::new("code", "Type the code from your authenticator app.")]));
    }
    Ok(())
}

/// The session cookie in, the pending sign-in out.
#[cfg(feature = "ssr")]
fn signed_in(cx: &crate::ssr::Ctx, session: &store::sign_in::Session) {
    cx.set_cookie(&store::auth::session_cookie(&cx.state.settings, &session.token));
    cx.set_cookie(&store::auth::pending_cookie(&cx.state.settings, None));
}

/// The second step: the authenticator code or a recovery code.
#[server(endpoint = "sign_in_code")]
pub async fn sign_in_code(code: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    code_typed(&cx, &code)?;
    let state = &cx.state;
    let pending = cx.cookie(store::auth::PENDING_COOKIE);
    let session = store::sign_in::second_factor(
        &state.db,
        &state.settings,
        &state.throttle,
        pending.as_deref(),
        &code,
        &cx.client_address(),
    )
    .await
    .map_err(|e| sign_in_refusal(&cx, e))?;
    signed_in(&cx, &session);
    leptos_actix::redirect(&format!("/t/{}", session.slug));
    Ok(())
}

/// Set-up the business requires, during sign-in: the authenticator to scan.
#[server(endpoint = "sign_in_set_up")]
pub async fn sign_in_set_up() -> Result<EnrolmentView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let pending = cx.cookie(store::auth::PENDING_COOKIE);
    let e = store::sign_in::set_up_start(&cx.state.db, &cx.state.settings, pending.as_deref())
        .await
        .map_err(|e| sign_in_refusal(&cx, e))?;
    Ok(crate::ssr::enrolment_view(e))
}

/// Confirms that set-up and signs in; returns the recovery codes to show once.
#[server(endpoint = "sign_in_set_up_confirm")]
pub async fn sign_in_set_up_confirm(code: String) -> Result<Vec<String>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    code_typed(&cx, &code)?;
    let state = &cx.state;
    let pending = cx.cookie(store::auth::PENDING_COOKIE);
    let (session, codes) = store::sign_in::set_up_confirm(
        &state.db,
        &state.settings,
        &state.throttle,
        pending.as_deref(),
        &code,
        &cx.client_address(),
    )
    .await
    .map_err(|e| sign_in_refusal(&cx, e))?;
    signed_in(&cx, &session);
    Ok(codes)
}

/// `/login`: asks for the business as well.
#[component]
pub fn LoginPage() -> impl IntoView {
    view! { <LoginForm fixed_slug=None /> }
}

/// `/t/<slug>/login`.
#[component]
pub fn BusinessLoginPage() -> impl IntoView {
    let params = use_params_map();
    let slug = params.read_untracked().get("slug").unwrap_or_default();
    view! { <LoginForm fixed_slug=Some(slug) /> }
}

#[component]
fn LoginForm(fixed_slug: Option<String>) -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let slug = RwSignal::new(fixed_slug.clone().unwrap_or_default());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let server_error = move |field: &'static str| {
        Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
    };
    // With the address fixed by the link there is no address field to show its problem under.
    let slug_fixed = fixed_slug.is_some();
    let form_message = Signal::derive(move || {
        let error = action.value().get().and_then(|r| r.err());
        error
            .as_ref()
            .and_then(|e| e.form_message())
            .or_else(|| error.filter(|_| slug_fixed).and_then(|e| e.field("slug")))
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        action.dispatch(SignIn { slug: slug.get(), email: email.get(), password: password.get() });
    };
    let heading = match &fixed_slug {
        Some(s) => format!("Sign in to {s}"),
        None => "Sign in".to_string(),
    };
    let next = Signal::derive(move || action.value().get().and_then(|r| r.ok()));
    // Arrived from opening another business with an account that already existed.
    let opened = leptos_router::hooks::use_query_map().read_untracked().get("opened").is_some();
    view! {
        <Title text="Sign in" />
        <main class="centered">
            <div class="card narrow">
                <a class="brand" href="/">"Steward"</a>
                <h1>{heading}</h1>
                <Show when=move || opened>
                    <p class="notice" role="status" data-testid="business-opened">
                        "Your new business is open. Sign in with the password you already have."
                    </p>
                </Show>
                {move || match next.get() {
                    Some(SignInNext::Code) => view! { <CodeStep /> }.into_any(),
                    Some(SignInNext::SetUp) => view! { <SetUpStep slug=slug.get_untracked() /> }.into_any(),
                    _ => ().into_any(),
                }}
                <form method="post" action=SignIn::PATH on:submit=on_submit novalidate
                    class:hidden=move || matches!(next.get(), Some(SignInNext::Code | SignInNext::SetUp))>
                    {match fixed_slug {
                        Some(s) => view! { <input type="hidden" name="slug" value=s /> }.into_any(),
                        None => view! {
                            <Field name="slug" label="Business address" value=slug error=server_error("slug")
                                hint="The part after /t/ in your team's Steward link, e.g. acme-plumbing." />
                        }.into_any(),
                    }}
                    <Field name="email" label="Email" kind="email" value=email error=server_error("email") autocomplete="username" />
                    <Field name="password" label="Password" kind="password" value=password error=server_error("password")
                        autocomplete="current-password" />
                    <FormError message=form_message />
                    <button class="button primary wide" type="submit" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </form>
                <p class="muted small">"New to Steward? " <a href="/signup">"Open your business"</a></p>
            </div>
        </main>
    }
}

/// The authenticator code (or a recovery code) after the password.
#[component]
fn CodeStep() -> impl IntoView {
    let action = ServerAction::<SignInCode>::new();
    let code = RwSignal::new(String::new());
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.field("code")));
    let form_message =
        Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        action.dispatch(SignInCode { code: code.get() });
    };
    view! {
        <form data-testid="code-step" on:submit=on_submit novalidate>
            <p class="muted">"Your password was right. Now the second step."</p>
            <Field name="code" label="Authentication code" value=code error=error autocomplete="one-time-code"
                hint="The six digits your authenticator app shows, or one of your recovery codes." />
            <FormError message=form_message />
            <button class="button primary wide" type="submit" disabled=move || action.pending().get()>
                {move || if action.pending().get() { "Checking…" } else { "Sign in" }}
            </button>
        </form>
    }
}

/// Set-up of a second factor the business requires, then the recovery codes.
#[component]
fn SetUpStep(slug: String) -> impl IntoView {
    let enrolment = crate::resource::new(|| (), |_| sign_in_set_up());
    let confirm = ServerAction::<SignInSetUpConfirm>::new();
    let codes = Signal::derive(move || confirm.value().get().and_then(|r| r.ok()));
    let error = Signal::derive(move || confirm.value().get().and_then(|r| r.err()));
    let home = format!("/t/{slug}");
    view! {
        <div data-testid="set-up-step">
            {move || match codes.get() {
                Some(codes) => view! {
                    <RecoveryCodes codes />
                    <a class="button primary wide" href=home.clone() rel="external" data-testid="continue">"Continue to your workspace"</a>
                }.into_any(),
                None => view! {
                    <p class="notice">"Your business requires two-factor sign-in. Set up an authenticator app to continue."</p>
                    <Suspense fallback=crate::components::field::Loading>
                        {move || Suspend::new(async move {
                            match enrolment.await {
                                Ok(e) => view! {
                                    <AuthenticatorSetUp enrolment=e error pending=confirm.pending()
                                        on_confirm=Callback::new(move |code| { confirm.dispatch(SignInSetUpConfirm { code }); }) />
                                }.into_any(),
                                Err(e) => view! { <div class="form-error" role="alert">{e.to_string()}</div> }.into_any(),
                            }
                        })}
                    </Suspense>
                }.into_any(),
            }}
        </div>
    }
}
