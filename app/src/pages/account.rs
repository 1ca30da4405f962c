//! Your account (every role): two-factor sign-in with an authenticator app,
//! and its recovery codes.

use crate::components::field::{Field, FormError};
use crate::components::refusal::Refusal;
use crate::components::two_factor::{AuthenticatorSetUp, RecoveryCodes};
use crate::error::AppError;
use crate::views::{EnrolmentView, TwoFactorView};
use leptos::prelude::*;
use leptos_meta::Title;

#[cfg(feature = "ssr")]
fn two_factor_refusal(cx: &crate::ssr::Ctx, e: store::two_factor::TwoFactorError) -> AppError {
    use actix_web::http::StatusCode;
    use store::two_factor::TwoFactorError;
    match e {
        e @ TwoFactorError::WrongCode => cx.invalid(vec![engine::FieldError::new("code", e.to_string())]),
        e @ (TwoFactorError::AlreadyOn | TwoFactorError::NothingToConfirm | TwoFactorError::Required) => {
            cx.refused(StatusCode::CONFLICT, e.to_string())
        }
        e @ (TwoFactorError::Unreadable | TwoFactorError::Storage(_)) => cx.internal("changing two-factor sign-in", e),
    }
}

#[server(endpoint = "two_factor_status")]
pub async fn two_factor_status(slug: String) -> Result<TwoFactorView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Account).await?;
    let db = &cx.state.db;
    let status = store::two_factor::status(db, me.user_id).await.map_err(|e| cx.internal("reading your account", e))?;
    let required = store::two_factor::required_for_user(db, me.user_id)
        .await
        .map_err(|e| cx.internal("reading your account", e))?;
    Ok(TwoFactorView {
        email: me.email,
        enabled: status.enabled,
        recovery_codes_left: status.recovery_codes_left,
        required,
    })
}

#[server(endpoint = "start_two_factor")]
pub async fn start_two_factor(slug: String) -> Result<EnrolmentView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Account).await?;
    let e = store::two_factor::start(&cx.state.db, &cx.state.settings, me.user_id)
        .await
        .map_err(|e| two_factor_refusal(&cx, e))?;
    Ok(crate::ssr::enrolment_view(e))
}

/// Returns the recovery codes, shown once.
#[server(endpoint = "confirm_two_factor")]
pub async fn confirm_two_factor(slug: String, code: String) -> Result<Vec<String>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Account).await?;
    store::two_factor::confirm_for(&cx.state.db, &cx.state.settings, &me, &code)
        .await
        .map_err(|e| two_factor_refusal(&cx, e))
}

#[server(endpoint = "turn_off_two_factor")]
pub async fn turn_off_two_factor(slug: String, code: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Account).await?;
    store::two_factor::turn_off_for(&cx.state.db, &cx.state.settings, &me, &code)
        .await
        .map_err(|e| two_factor_refusal(&cx, e))
}

/// Replaces the recovery codes (the old ones stop working); returns the new ones.
#[server(endpoint = "new_recovery_codes")]
pub async fn new_recovery_codes(slug: String, code: String) -> Result<Vec<String>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Account).await?;
    store::two_factor::new_recovery_codes_for(&cx.state.db, &cx.state.settings, &me, &code)
        .await
        .map_err(|e| two_factor_refusal(&cx, e))
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let start = ServerAction::<StartTwoFactor>::new();
    let confirm = ServerAction::<ConfirmTwoFactor>::new();
    let turn_off = ServerAction::<TurnOffTwoFactor>::new();
    let renew = ServerAction::<NewRecoveryCodes>::new();
    let status = crate::resource::new(
        move || (slug.get(), confirm.version().get(), turn_off.version().get(), renew.version().get()),
        |(slug, ..)| two_factor_status(slug),
    );
    // The codes of the last confirmation or renewal, shown once.
    let codes = RwSignal::new(None::<Vec<String>>);
    Effect::new(move |_| {
        if let Some(Ok(c)) = confirm.value().get() {
            codes.set(Some(c));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(c)) = renew.value().get() {
            codes.set(Some(c));
        }
    });
    view! {
        <Title text="Your account" />
        <section class="page-head">
            <h1>"Your account"</h1>
            <p class="muted">"How you sign in to Steward."</p>
        </section>
        <section class="card" data-testid="two-factor">
            <h2>"Two-factor sign-in"</h2>
            <p class="muted small">"After your password, Steward asks for a six-digit code from an authenticator app on your phone, so a stolen password alone does not open your business."</p>
            {move || codes.get().map(|c| view! { <RecoveryCodes codes=c /> })}
            <Suspense fallback=crate::components::field::Loading>
                {move || Suspend::new(async move {
                    match status.await {
                        Err(e) => view! { <Refusal error=e /> }.into_any(),
                        Ok(s) if s.enabled => view! { <TwoFactorOn slug s turn_off renew /> }.into_any(),
                        Ok(s) => view! { <TwoFactorOff slug required=s.required start confirm /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn TwoFactorOff(
    slug: Memo<String>,
    required: bool,
    start: ServerAction<StartTwoFactor>,
    confirm: ServerAction<ConfirmTwoFactor>,
) -> impl IntoView {
    let enrolment = Signal::derive(move || start.value().get().and_then(|r| r.ok()));
    let start_error = Signal::derive(move || start.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let confirm_error = Signal::derive(move || confirm.value().get().and_then(|r| r.err()));
    view! {
        <p data-testid="two-factor-state"><span class="badge">"Off"</span>
            {required.then_some(" Your business requires it: you will be asked to set it up at your next sign-in.")}
        </p>
        {move || match enrolment.get() {
            Some(e) => view! {
                <AuthenticatorSetUp enrolment=e error=confirm_error pending=confirm.pending()
                    on_confirm=Callback::new(move |code| { confirm.dispatch(ConfirmTwoFactor { slug: slug.get_untracked(), code }); }) />
            }.into_any(),
            None => view! {
                <button class="button primary" type="button" data-testid="start-two-factor"
                    disabled=move || start.pending().get()
                    on:click=move |_| { start.dispatch(StartTwoFactor { slug: slug.get_untracked() }); }>
                    "Set up an authenticator app"
                </button>
                <FormError message=start_error />
            }.into_any(),
        }}
    }
}

#[component]
fn TwoFactorOn(
    slug: Memo<String>,
    s: TwoFactorView,
    turn_off: ServerAction<TurnOffTwoFactor>,
    renew: ServerAction<NewRecoveryCodes>,
) -> impl IntoView {
    let code = RwSignal::new(String::new());
    let last = RwSignal::new("");
    let error = Signal::derive(move || {
        let result = if last.get() == "off" {
            turn_off.value().get().map(|r| r.err())
        } else {
            renew.value().get().map(|r| r.map(|_| ()).err())
        };
        result.flatten()
    });
    let field_error = Signal::derive(move || error.get().and_then(|e| e.field("code")));
    let form_message = Signal::derive(move || error.get().and_then(|e| e.form_message()));
    let submit_off = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        last.set("off");
        turn_off.dispatch(TurnOffTwoFactor { slug: slug.get_untracked(), code: code.get() });
    };
    let renew_codes = move |_| {
        last.set("renew");
        renew.dispatch(NewRecoveryCodes { slug: slug.get_untracked(), code: code.get() });
    };
    view! {
        <p data-testid="two-factor-state"><span class="badge live">"On"</span>
            {format!(" {} recovery code{} left.", s.recovery_codes_left, if s.recovery_codes_left == 1 { "" } else { "s" })}
        </p>
        <form class="code-form" on:submit=submit_off novalidate>
            <Field name="code" label="A current code (or a recovery code)" value=code error=field_error autocomplete="one-time-code" />
            <FormError message=form_message />
            <div class="actions tight">
                <button class="button" type="button" on:click=renew_codes data-testid="renew-recovery-codes">"New recovery codes"</button>
                <button class="button danger" type="submit" disabled=s.required data-testid="turn-off-two-factor"
                    title=s.required.then_some("Your business requires two-factor sign-in")>"Turn off"</button>
            </div>
        </form>
    }
}
