//! Opening a business: name, address (slug), owner email and password.

use crate::components::field::{Field, FormError};
use crate::error::AppError;
use engine::{
    field_error::message_for,
    signup::{SignupForm, CODE_MINUTES},
    TenantSlug,
};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

/// Where the code went.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CodeSent {
    pub email: String,
    /// Outside production, where the run command's mailbox keeps email.
    pub dev_mailbox: Option<String>,
}

/// The first step: checks the form and emails a code. Answers the same way
/// whether the email already has an account (that account is emailed
/// instead), so the form does not tell who uses Steward.
#[server(endpoint = "sign_up")]
pub async fn sign_up(
    business_name: String,
    slug: String,
    email: String,
    password: String,
) -> Result<CodeSent, AppError> {
    use store::tenants::SignupError;
    let cx = crate::ssr::Ctx::get().await?;
    let form = SignupForm { business_name, slug, email, password };
    let valid = form.validate().map_err(|e| cx.invalid(e))?;
    let state = &cx.state;
    // Throttled per email and per client address, like sign-in; every attempt counts.
    sign_up_throttle(&cx, valid.email.as_str(), true).await?;
    let letter = match store::sign_up::start(&state.db, &state.settings, &valid).await {
        Ok(letter) => letter,
        Err(SignupError::Fields(errors)) => return Err(cx.invalid(errors)),
        Err(SignupError::Storage(e)) => return Err(cx.internal("starting your sign-up", e)),
    };
    // Sent while the person waits: the code is what they wait for.
    if let Err(e) = state.mailer.send(&letter).await {
        tracing::warn!(error = %e, "the sign-up code could not be sent");
        return Err(cx.refused(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "We could not send the email just now. Try again in a minute.",
        ));
    }
    // Ready by the time the code from the email is typed.
    state.prepare_spare_schemas();
    let development = state.settings.environment != store::config::Environment::Production;
    Ok(CodeSent {
        email: valid.email.as_str().to_owned(),
        dev_mailbox: state.settings.dev_mailbox.clone().filter(|_| development),
    })
}

/// Checks (and, when `count`, counts) a sign-up attempt against the throttle.
#[cfg(feature = "ssr")]
async fn sign_up_throttle(cx: &crate::ssr::Ctx, email: &str, count: bool) -> Result<(), AppError> {
    let throttle = &cx.state.throttle;
    let address = cx.client_address();
    match throttle.check_sign_up(email, &address).await {
        Ok(()) => {}
        Err(store::throttle::ThrottleCheck::Throttled(t)) => {
            return Err(cx.refused(actix_web::http::StatusCode::TOO_MANY_REQUESTS, t.message()))
        }
        Err(store::throttle::ThrottleCheck::Redis(e)) => return Err(cx.internal("checking sign-up attempts", e)),
    }
    if count {
        throttle.record_sign_up(email, &address).await.map_err(|e| cx.internal("counting sign-up attempts", e))?;
    }
    Ok(())
}

/// The second step: the emailed code opens the business. A new account is
/// signed in; an existing account signs in with its own password (and
/// second factor), never with the emailed code.
#[server(endpoint = "confirm_sign_up")]
pub async fn confirm_sign_up(email: String, code: String) -> Result<(), AppError> {
    use engine::FieldError;
    use store::sign_up::{confirm, ConfirmError, Confirmed};
    let cx = crate::ssr::Ctx::get().await?;
    if code.trim().is_empty() {
        return Err(cx.invalid(vec![FieldError::new("code", "Type the six digits from the email.")]));
    }
    let email = engine::Email::parse(&email).map_err(|m| cx.invalid(vec![FieldError::new("email", m)]))?;
    let email = email.as_str();
    let state = &cx.state;
    sign_up_throttle(&cx, email, false).await?;
    let started = std::time::Instant::now();
    let created = match confirm(&state.db, email, &code).await {
        Ok(created) => created,
        Err(e @ ConfirmError::WrongCode) => {
            // Wrong codes count like attempts, so six digits cannot be walked through.
            state
                .throttle
                .record_sign_up(email, &cx.client_address())
                .await
                .map_err(|e| cx.internal("counting sign-up attempts", e))?;
            return Err(cx.invalid(vec![FieldError::new("code", e.to_string())]));
        }
        Err(e @ ConfirmError::Expired) => return Err(cx.invalid(vec![FieldError::new("code", e.to_string())])),
        Err(ConfirmError::Fields(errors)) => {
            let taken = errors.iter().find(|e| e.field == "slug").map(|e| e.message.clone());
            return Err(match taken {
                Some(m) => cx.refused(
                    actix_web::http::StatusCode::CONFLICT,
                    format!("{m} Someone took it while you were reading your email: start again with another address."),
                ),
                None => cx.invalid(errors),
            });
        }
        Err(ConfirmError::Storage(e)) => return Err(cx.internal("opening your business", e)),
    };
    // For the next sign-up: this one may have taken the last spare schema.
    state.prepare_spare_schemas();
    match created {
        Confirmed::NewAccount(created) => {
            tracing::info!(tenant = %created.tenant.slug, elapsed_ms = started.elapsed().as_millis() as u64, "business created");
            let token = store::auth::start_session(&state.db, &state.settings, created.owner.id, created.tenant.id)
                .await
                .map_err(|e| cx.internal("signing you in", e))?;
            cx.set_cookie(&store::auth::session_cookie(&state.settings, &token));
            leptos_actix::redirect(&format!("/t/{}", created.tenant.slug));
        }
        Confirmed::ExistingAccount(created) => {
            tracing::info!(tenant = %created.tenant.slug, "business created for an existing account");
            leptos_actix::redirect(&format!("/t/{}/login?opened=1", created.tenant.slug));
        }
    }
    Ok(())
}

#[component]
pub fn SignupPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let business_name = RwSignal::new(String::new());
    let slug = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    // Until the person edits the address, it follows the business name.
    let slug_edited = RwSignal::new(false);
    let touched = RwSignal::new(Vec::<&'static str>::new());
    let touch = move |field: &'static str| {
        touched.update(|t| {
            if !t.contains(&field) {
                t.push(field)
            }
        })
    };

    Effect::new(move |_| {
        let name = business_name.get();
        if !slug_edited.get_untracked() {
            slug.set(TenantSlug::suggest(&name));
        }
    });

    let form = move || SignupForm {
        business_name: business_name.get(),
        slug: slug.get(),
        email: email.get(),
        password: password.get(),
    };
    // The page checks with the same rules as the server; the server's answer
    // (slug taken, email in use) is shown in the same place.
    let error_for = move |field: &'static str| {
        Signal::derive(move || {
            let local = if touched.get().contains(&field) {
                form().validate().err().and_then(|errs| message_for(&errs, field).map(str::to_owned))
            } else {
                None
            };
            local.or_else(|| action.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
        })
    };
    let form_message =
        Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        touched.set(vec!["business_name", "slug", "email", "password"]);
        let f = form();
        if f.validate().is_ok() {
            action.dispatch(SignUp {
                business_name: f.business_name,
                slug: f.slug,
                email: f.email,
                password: f.password,
            });
        }
    };

    // After the form: the code step, until the person goes back to change the email.
    let sent_to = Signal::derive(move || action.value().get().and_then(|r| r.ok()));
    let resend = Callback::new(move |()| {
        let f = form();
        action.dispatch(SignUp { business_name: f.business_name, slug: f.slug, email: f.email, password: f.password });
    });
    let back = Callback::new(move |()| action.value().set(None));

    view! {
        <Title text="Open your business" />
        <main class="centered">
            <div class="card narrow">
                <a class="brand" href="/">"Steward"</a>
                <h1>"Open your business"</h1>
                {move || sent_to.get().map(|sent| view! {
                    <CodeStep sent business=business_name.get_untracked() resend back resending=action.pending() />
                })}
                <div class:hidden=move || sent_to.get().is_some()>
                <p class="muted">"You will be its owner. You can invite your team next."</p>
                <form method="post" action=SignUp::PATH on:submit=on_submit novalidate>
                    <Field name="business_name" label="Business name" value=business_name error=error_for("business_name")
                        autocomplete="organization" on_blur=Callback::new(move |_| touch("business_name")) />
                    <div class="field-with-prefix">
                        <Field name="slug" label="Address" value=slug error=error_for("slug")
                            hint="Lowercase letters, digits and hyphens. Your team signs in at /t/<address>."
                            on_blur=Callback::new(move |_| { slug_edited.set(true); touch("slug") }) />
                    </div>
                    <p class="slug-preview" data-testid="slug-preview">
                        "Your sign-in page: " <code>{move || format!("/t/{}/login", slug.get())}</code>
                    </p>
                    <Field name="email" label="Your email" kind="email" value=email error=error_for("email")
                        autocomplete="email" hint="We email you a code to confirm it's yours." on_blur=Callback::new(move |_| touch("email")) />
                    <Field name="password" label="Password" kind="password" value=password error=error_for("password")
                        autocomplete="new-password" hint="At least 12 characters; a short sentence works well."
                        on_blur=Callback::new(move |_| touch("password")) />
                    <FormError message=form_message />
                    <button class="button primary wide" type="submit" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Sending your code…" } else { "Continue" }}
                    </button>
                </form>
                <p class="muted small">"Already on Steward? " <a href="/login">"Sign in"</a></p>
                </div>
            </div>
        </main>
    }
}

/// The code from the email opens the business.
#[component]
fn CodeStep(
    sent: CodeSent,
    business: String,
    resend: Callback<()>,
    back: Callback<()>,
    #[prop(into)] resending: Signal<bool>,
) -> impl IntoView {
    let action = ServerAction::<ConfirmSignUp>::new();
    let code = RwSignal::new(String::new());
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.field("code")));
    let form_message =
        Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let CodeSent { email, dev_mailbox } = sent;
    let to = email.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        action.dispatch(ConfirmSignUp { email: to.clone(), code: code.get() });
    };
    view! {
        <form data-testid="code-step" on:submit=on_submit novalidate>
            <p role="status">
                "We sent a six-digit code to " <strong data-testid="code-sent-to">{email}</strong>
                ". Type it here to open " {business} "."
            </p>
            <Field name="code" label="Code from the email" value=code error=error autocomplete="one-time-code"
                hint=format!("It works for {} minutes. No email? Look in spam, or send a new code.", CODE_MINUTES) />
            {dev_mailbox.map(|dir| view! {
                <p class="muted small" data-testid="dev-mailbox">
                    "Steward runs on this computer and keeps its email in " <code>{dir}</code>
                    ": open the newest file there; its subject line carries the code."
                </p>
            })}
            <FormError message=form_message />
            <button class="button primary wide" type="submit" disabled=move || action.pending().get()>
                {move || if action.pending().get() { "Opening your business…" } else { "Open my business" }}
            </button>
            <p class="code-step-actions">
                <button class="button small" type="button" data-testid="resend-code" disabled=resending
                    on:click=move |_| resend.run(())>
                    {move || if resending.get() { "Sending…" } else { "Send a new code" }}
                </button>
                <button class="button small" type="button" data-testid="change-email" on:click=move |_| back.run(())>
                    "Change the email"
                </button>
            </p>
        </form>
    }
}
