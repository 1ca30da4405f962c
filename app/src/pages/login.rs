//! Signing in: `/t/<slug>/login` for one business, `/login` asks which.

use crate::components::field::{Field, FormError};
use crate::error::AppError;

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[server(endpoint = "sign_in")]
pub async fn sign_in(slug: String, email: String, password: String) -> Result<(), AppError> {
    use actix_web::http::StatusCode;
    use store::sign_in::{sign_in as check, SignInError};
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
        Ok(token) => {
            cx.set_cookie(&store::auth::session_cookie(&state.settings, &token));
            leptos_actix::redirect(&format!("/t/{slug}"));
            Ok(())
        }
        Err(SignInError::UnknownBusiness) => {
            Err(cx.invalid(vec![engine::FieldError::new("slug", SignInError::UnknownBusiness.to_string())]))
        }
        Err(e @ SignInError::BadCredentials) => Err(cx.refused(StatusCode::UNAUTHORIZED, e.to_string())),
        Err(SignInError::Throttled(message)) => Err(cx.refused(StatusCode::TOO_MANY_REQUESTS, message)),
        Err(e @ SignInError::Unavailable(_)) => Err(cx.internal("signing you in", e)),
    }
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
    let form_message =
        Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        action.dispatch(SignIn { slug: slug.get(), email: email.get(), password: password.get() });
    };
    let heading = match &fixed_slug {
        Some(s) => format!("Sign in to {s}"),
        None => "Sign in".to_string(),
    };
    view! {
        <Title text="Sign in" />
        <main class="centered">
            <div class="card narrow">
                <a class="brand" href="/">"Steward"</a>
                <h1>{heading}</h1>
                <form method="post" action=SignIn::PATH on:submit=on_submit novalidate>
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
