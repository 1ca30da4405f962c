//! Opening a business: name, address (slug), owner email and password.

use crate::components::field::{Field, FormError};
use crate::error::AppError;
use engine::{field_error::message_for, signup::SignupForm, TenantSlug};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

#[server(endpoint = "sign_up")]
pub async fn sign_up(business_name: String, slug: String, email: String, password: String) -> Result<(), AppError> {
    use store::tenants::{create_business, SignupError};
    let cx = crate::ssr::Ctx::get().await?;
    let form = SignupForm { business_name, slug, email, password };
    let valid = form.validate().map_err(|e| cx.invalid(e))?;
    let state = &cx.state;
    // Throttled per email and per client address, like sign-in; every attempt counts.
    let address = cx.client_address();
    match state.throttle.check_sign_up(valid.email.as_str(), &address).await {
        Ok(()) => {}
        Err(store::throttle::ThrottleCheck::Throttled(t)) => {
            return Err(cx.refused(actix_web::http::StatusCode::TOO_MANY_REQUESTS, t.message()))
        }
        Err(store::throttle::ThrottleCheck::Redis(e)) => return Err(cx.internal("checking sign-up attempts", e)),
    }
    state
        .throttle
        .record_sign_up(valid.email.as_str(), &address)
        .await
        .map_err(|e| cx.internal("counting sign-up attempts", e))?;
    let started = std::time::Instant::now();
    let created = match create_business(&state.db, &valid).await {
        Ok(created) => created,
        Err(SignupError::Fields(errors)) => return Err(cx.invalid(errors)),
        Err(SignupError::Storage(e)) => return Err(cx.internal("creating your business", e)),
    };
    tracing::info!(tenant = %created.tenant.slug, elapsed_ms = started.elapsed().as_millis() as u64, "business created");
    let token = store::auth::start_session(&state.db, &state.settings, created.owner.id, created.tenant.id)
        .await
        .map_err(|e| cx.internal("signing you in", e))?;
    cx.set_cookie(&store::auth::session_cookie(&state.settings, &token));
    leptos_actix::redirect(&format!("/t/{}", created.tenant.slug));
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

    view! {
        <Title text="Open your business" />
        <main class="centered">
            <div class="card narrow">
                <a class="brand" href="/">"Steward"</a>
                <h1>"Open your business"</h1>
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
                        autocomplete="email" on_blur=Callback::new(move |_| touch("email")) />
                    <Field name="password" label="Password" kind="password" value=password error=error_for("password")
                        autocomplete="new-password" hint="At least 12 characters; a short sentence works well."
                        on_blur=Callback::new(move |_| touch("password")) />
                    <FormError message=form_message />
                    <button class="button primary wide" type="submit" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Creating your business…" } else { "Create business" }}
                    </button>
                </form>
                <p class="muted small">"Already on Steward? " <a href="/login">"Sign in"</a></p>
            </div>
        </main>
    }
}
