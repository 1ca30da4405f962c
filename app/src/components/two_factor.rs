//! Pieces of two-factor sign-in shared by the sign-in page (set-up the
//! business requires) and the account page: the authenticator to scan, and
//! the recovery codes shown once.

use crate::components::field::{Field, FormError};
use crate::error::AppError;
use crate::views::EnrolmentView;
use leptos::prelude::*;

/// The QR code and secret of a new authenticator, and the code that confirms it.
/// `on_confirm` gets the typed code.
#[component]
pub fn AuthenticatorSetUp(
    enrolment: EnrolmentView,
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(into)] pending: Signal<bool>,
    on_confirm: Callback<String>,
) -> impl IntoView {
    let code = RwSignal::new(String::new());
    let field_error = Signal::derive(move || error.get().and_then(|e| e.field("code")));
    let form_message = Signal::derive(move || error.get().and_then(|e| e.form_message()));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        on_confirm.run(code.get());
    };
    view! {
        <div class="authenticator" data-testid="authenticator-set-up">
            <ol class="steps small">
                <li>"Open an authenticator app on your phone (Google Authenticator, 1Password, Microsoft Authenticator, Authy…)."</li>
                <li>"Scan this code, or type the key below."</li>
                <li>"Type the six digits the app shows."</li>
            </ol>
            <div class="qr" role="img" aria-label="QR code for your authenticator app" inner_html=enrolment.qr_svg></div>
            <p class="small">"Key: "<code class="secret" data-testid="totp-secret">{enrolment.secret}</code></p>
            <p class="small">"On this phone? "<a href=enrolment.otpauth_url rel="external">"Add it to your authenticator app"</a></p>
            <form on:submit=on_submit novalidate>
                <Field name="code" label="Code from the app" value=code error=field_error autocomplete="one-time-code" />
                <FormError message=form_message />
                <button class="button primary" type="submit" disabled=move || pending.get()>"Turn on two-factor sign-in"</button>
            </form>
        </div>
    }
}

/// Recovery codes, shown once: each signs in once when the phone is lost.
#[component]
pub fn RecoveryCodes(codes: Vec<String>) -> impl IntoView {
    view! {
        <div class="recovery-codes notice" role="status" data-testid="recovery-codes">
            <p><strong>"Save these recovery codes now."</strong>" Each one signs you in once if you lose your phone. They are not shown again."</p>
            <ul>{codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}</ul>
        </div>
    }
}
