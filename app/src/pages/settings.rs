//! Settings (owner only): invite people, change roles, remove members; API
//! tokens, Slack (`slack_settings`), cost rates and reason codes.

use crate::components::confirm_button::ConfirmButton;
use crate::components::field::{Field, FormError};
use crate::components::refusal::Refusal;
use crate::error::AppError;
use crate::views::{MemberView, MembersView, PendingInvitationView};
use engine::Role;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

pub mod currency;
pub mod slack;

#[server(endpoint = "list_members")]
pub async fn list_members(slug: String) -> Result<MembersView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    let state = &cx.state;
    let members =
        store::members::list(&state.db, me.tenant.id()).await.map_err(|e| cx.internal("listing members", e))?;
    let invitations = store::members::pending_invitations(&state.db, me.tenant.id())
        .await
        .map_err(|e| cx.internal("listing invitations", e))?;
    Ok(MembersView {
        members: members
            .into_iter()
            .map(|m| MemberView {
                is_you: m.user_id == me.user_id,
                user_id: m.user_id.to_string(),
                email: m.email,
                role: Role::parse(&m.role).unwrap_or(Role::Reviewer),
                joined: m.created_at.format("%Y-%m-%d").to_string(),
            })
            .collect(),
        invitations: invitations
            .into_iter()
            .map(|i| PendingInvitationView {
                email: i.email,
                role: Role::parse(&i.role).unwrap_or(Role::Reviewer),
                expires: i.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            })
            .collect(),
    })
}

#[server(endpoint = "invite_member")]
/// Returns the address the invitation went to.
pub async fn invite_member(slug: String, email: String, role: String) -> Result<String, AppError> {
    use store::invitations::{invite, InviteError};
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    let state = &cx.state;
    let letter = |invitation: &store::entities::invitation::Model, link: &str| store::outbox::OutboxEmail {
        to: invitation.email.clone(),
        subject: format!("You're invited to {} on Steward", me.tenant_name),
        text: invitation_text(&me.tenant_name, &me.email, &invitation.role, link, state.settings.invitation_hours),
        html: invitation_html(&me.tenant_name, &me.email, &invitation.role, link, state.settings.invitation_hours),
        attachments: Vec::new(),
    };
    let created = match invite(&state.db, &state.settings, &me, &email, &role, letter).await {
        Ok(c) => c,
        Err(InviteError::Fields(errors)) => return Err(cx.invalid(errors)),
        Err(InviteError::Storage(e)) => return Err(cx.internal("creating the invitation", e)),
    };
    // The email is in the outbox with the invitation; queueing it is best-effort (the sweeper covers it).
    state.hand_over(&me.tenant, vec![created.mail.clone()]);
    Ok(created.invitation.email)
}

#[cfg(feature = "ssr")]
fn invitation_text(business: &str, inviter: &str, role: &str, link: &str, hours: i64) -> String {
    format!(
        "{inviter} invited you to join {business} on Steward as {role}.\n\n\
         Accept the invitation and choose your password:\n{link}\n\n\
         The link works once and expires in {hours} hours. If you did not expect this, ignore this email.\n"
    )
}

#[cfg(feature = "ssr")]
fn invitation_html(business: &str, inviter: &str, role: &str, link: &str, hours: i64) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    format!(
        r#"<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#1f2933;max-width:560px;margin:auto;padding:24px">
<h1 style="font-size:20px">Join {b} on Steward</h1>
<p>{i} invited you to join <strong>{b}</strong> as <strong>{r}</strong>.</p>
<p><a href="{l}" style="display:inline-block;background:#2457d6;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none">Accept the invitation</a></p>
<p style="color:#52606d;font-size:13px">The link works once and expires in {hours} hours. If the button does not work, paste this address into your browser:<br>{l}</p>
</body></html>"#,
        b = esc(business),
        i = esc(inviter),
        r = esc(role),
        l = esc(link),
    )
}

#[server(endpoint = "change_member_role")]
pub async fn change_member_role(slug: String, user_id: String, role: String) -> Result<(), AppError> {
    use actix_web::http::StatusCode;
    use store::members::MemberChangeError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    let role = Role::parse(&role).map_err(|m| cx.invalid(vec![engine::FieldError::new("role", m)]))?;
    let user_id = uuid::Uuid::parse_str(&user_id)
        .map_err(|_| cx.invalid(vec![engine::FieldError::new("user_id", "Not a member id.")]))?;
    let state = &cx.state;
    match store::members::change_role(&state.db, &me, user_id, role).await {
        Ok(()) => Ok(()),
        Err(e @ MemberChangeError::NotAMember) => Err(cx.refused(StatusCode::NOT_FOUND, e.to_string())),
        Err(e @ MemberChangeError::LastOwner) => Err(cx.refused(StatusCode::CONFLICT, e.to_string())),
        Err(e) => Err(cx.internal("changing the role", e)),
    }
}

#[server(endpoint = "remove_member")]
pub async fn remove_member(slug: String, user_id: String) -> Result<(), AppError> {
    use actix_web::http::StatusCode;
    use store::members::MemberChangeError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    let user_id = uuid::Uuid::parse_str(&user_id)
        .map_err(|_| cx.invalid(vec![engine::FieldError::new("user_id", "Not a member id.")]))?;
    let state = &cx.state;
    match store::members::remove(&state.db, &me, user_id).await {
        Ok(()) => Ok(()),
        Err(e @ MemberChangeError::NotAMember) => Err(cx.refused(StatusCode::NOT_FOUND, e.to_string())),
        Err(e @ MemberChangeError::LastOwner) => Err(cx.refused(StatusCode::CONFLICT, e.to_string())),
        Err(e) => Err(cx.internal("removing the member", e)),
    }
}

/// The rates for costs that are not on a vendor's bill (owner only).
#[server(endpoint = "load_cost_rates")]
pub async fn load_cost_rates(slug: String) -> Result<crate::views::CostRatesView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    let r =
        store::costs::rates(&cx.state.db, &me.tenant).await.map_err(|e| cx.internal("reading the cost rates", e))?;
    Ok(crate::views::CostRatesView {
        orchestration_per_hour: engine::money::plain(r.orchestration_per_hour),
        queue_op: engine::money::plain(r.queue_op),
        reviewer_hourly: engine::money::plain(r.reviewer_hourly),
    })
}

#[server(endpoint = "save_cost_rates")]
pub async fn save_cost_rates(
    slug: String,
    orchestration_per_hour: String,
    queue_op: String,
    reviewer_hourly: String,
) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    let rates = engine::cost::Rates::parse(&orchestration_per_hour, &queue_op, &reviewer_hourly)
        .map_err(|errors| cx.invalid(errors))?;
    store::costs::save_rates(&cx.state.db, &me, &rates).await.map_err(|e| cx.internal("saving the cost rates", e))
}

#[component]
fn CostRates(slug: Memo<String>) -> impl IntoView {
    let save = ServerAction::<SaveCostRates>::new();
    // Reload after a save that was taken, not after a refused one (its errors stay beside the fields).
    let saved = RwSignal::new(0u32);
    Effect::new(move |_| {
        if matches!(save.value().get(), Some(Ok(()))) {
            saved.update(|n| *n += 1);
        }
    });
    let rates = crate::resource::new(move || (slug.get(), saved.get()), |(slug, _)| load_cost_rates(slug));
    view! {
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                let Ok(r) = rates.await else { return ().into_any() };
                let reviewer = RwSignal::new(r.reviewer_hourly);
                let worker = RwSignal::new(r.orchestration_per_hour);
                let queue = RwSignal::new(r.queue_op);
                let error = move |field: &'static str| Signal::derive(move || save.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)));
                let on_submit = move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    save.dispatch(SaveCostRates { slug: slug.get_untracked(), orchestration_per_hour: worker.get(), queue_op: queue.get(), reviewer_hourly: reviewer.get() });
                };
                view! {
                    <section class="card">
                        <h2>"Cost rates"</h2>
                        <p class="muted small">"What a run costs besides its vendor bills: review time from claim to decision, the worker's time, and each queue operation. Changes count from now on."</p>
                        <form class="model-form" data-testid="cost-rates" on:submit=on_submit novalidate>
                            <Field name="reviewer_hourly" label="Reviewer hourly rate" value=reviewer error=error("reviewer_hourly") hint="e.g. 45.00" />
                            <Field name="orchestration_per_hour" label="Worker time per hour" value=worker error=error("orchestration_per_hour") />
                            <Field name="queue_op" label="Per queue operation" value=queue error=error("queue_op") />
                            <button class="button primary" type="submit">"Save rates"</button>
                        </form>
                        <Show when=move || matches!(save.value().get(), Some(Ok(())))><p class="notice" role="status" data-testid="rates-saved">"Rates saved."</p></Show>
                    </section>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let invite = ServerAction::<InviteMember>::new();
    let change = ServerAction::<ChangeMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let members = crate::resource::new(
        move || (slug.get(), invite.version().get(), change.version().get(), remove.version().get()),
        |(slug, ..)| list_members(slug),
    );
    let action_message = Signal::derive(move || {
        [change.value().get(), remove.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| r.err())
            .and_then(|e| e.form_message())
    });

    view! {
        <Title text="Settings" />
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match members.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(view_data) => view! {
                        <section class="page-head">
                            <h1>"Settings"</h1>
                            <p class="muted">"Members and roles, API tokens, Slack, currency, cost rates and review reason codes. Only owners see this page."</p>
                        </section>
                        <InviteForm slug=slug.get_untracked() action=invite />
                        <FormError message=action_message />
                        <MemberTable slug=slug.get_untracked() members=view_data.members change remove />
                        <PendingInvitations invitations=view_data.invitations />
                    }.into_any(),
                }
            })}
        </Suspense>
        <section class="card">
            <h2>"API tokens"</h2>
            <p class="muted small">"Tokens that let programs (Zapier, a script, your CRM) send events, read runs, decide review tasks and export bundles without a person's password."</p>
            <a class="button" href=move || format!("/t/{}/tokens", slug.get()) data-testid="api-tokens-link">"Manage API tokens"</a>
        </section>
        <SignInPolicy slug />
        <crate::components::one_person::OnePersonBusiness slug />
        <slack::SlackSettings slug />
        <currency::BusinessCurrency slug />
        <CostRates slug />
        <crate::components::reason_codes::ReasonCodes slug />
        <LeaveSteward slug />
    }
}

#[component]
fn InviteForm(slug: String, action: ServerAction<InviteMember>) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("reviewer".to_string());
    let error = move |field: &'static str| {
        Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
    };
    let form_message =
        Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let sent_to = Signal::derive(move || action.value().get().and_then(|r| r.ok()));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        action.dispatch(InviteMember { slug: slug.clone(), email: email.get(), role: role.get() });
    };
    view! {
        <section class="card" id="invite">
            <h2>"Invite a person"</h2>
            <form class="invite-form" method="post" action=InviteMember::PATH on:submit=on_submit novalidate>
                <Field name="email" label="Email" kind="email" value=email error=error("email") />
                <div class="field">
                    <label for="field-role">"Role"</label>
                    <select id="field-role" name="role" on:change=move |ev| role.set(event_target_value(&ev)) prop:value=move || role.get()>
                        {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str()>{r.label()}</option> }).collect_view()}
                    </select>
                    <p class="hint">{move || Role::parse(&role.get()).map(|r| r.description()).unwrap_or_default()}</p>
                    <p class="field-error" role="alert">{move || error("role").get().unwrap_or_default()}</p>
                </div>
                <button class="button primary" type="submit" disabled=move || action.pending().get()>"Send invitation"</button>
            </form>
            <FormError message=form_message />
            <Show when=move || sent_to.get().is_some()>
                <p class="notice" role="status" data-testid="invite-sent">
                    {move || format!("Invitation sent to {}.", sent_to.get().unwrap_or_default())}
                </p>
            </Show>
        </section>
    }
}

#[component]
fn MemberTable(
    slug: String,
    members: Vec<MemberView>,
    change: ServerAction<ChangeMemberRole>,
    remove: ServerAction<RemoveMember>,
) -> impl IntoView {
    let rows = members
        .into_iter()
        .map(|m| {
            let (slug_a, slug_b) = (slug.clone(), slug.clone());
            let (id_a, id_b) = (m.user_id.clone(), m.user_id.clone());
            // Removing ends the person's sessions at once, so it takes a second click.
            view! {
                <tr data-testid="member-row">
                    <td data-label="Email">{m.email.clone()}{m.is_you.then(|| view! { <span class="badge">"you"</span> })}</td>
                    <td data-label="Role">
                        <select aria-label=format!("Role of {}", m.email) prop:value=m.role.as_str()
                            on:change=move |ev| {
                                change.dispatch(ChangeMemberRole { slug: slug_a.clone(), user_id: id_a.clone(), role: event_target_value(&ev) });
                            }>
                            {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == m.role>{r.label()}</option> }).collect_view()}
                        </select>
                    </td>
                    <td data-label="Joined">{m.joined.clone()}</td>
                    <td class="actions">
                        <ConfirmButton label="Remove" confirm="Confirm removal"
                            on_confirm=Callback::new(move |_| { remove.dispatch(RemoveMember { slug: slug_b.clone(), user_id: id_b.clone() }); }) />
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card">
            <h2>"Members"</h2>
            <table class="table">
                <thead><tr><th>"Email"</th><th>"Role"</th><th>"Joined"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

#[component]
fn PendingInvitations(invitations: Vec<PendingInvitationView>) -> impl IntoView {
    if invitations.is_empty() {
        return view! {
            <section class="card">
                <h2>"Pending invitations"</h2>
                <p class="muted">"No invitations waiting. People you invite appear here until they accept."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="card">
            <h2>"Pending invitations"</h2>
            <table class="table">
                <thead><tr><th>"Email"</th><th>"Role"</th><th>"Expires"</th></tr></thead>
                <tbody>
                    {invitations.into_iter().map(|i| view! {
                        <tr data-testid="invitation-row"><td data-label="Email">{i.email}</td><td data-label="Role">{i.role.label()}</td><td data-label="Expires">{i.expires}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

/// Whether the business requires two-factor sign-in.
#[server(endpoint = "load_sign_in_policy")]
pub async fn load_sign_in_policy(slug: String) -> Result<bool, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    store::two_factor::required_by_business(&cx.state.db, me.tenant.id())
        .await
        .map_err(|e| cx.internal("reading the sign-in policy", e))
}

#[server(endpoint = "set_two_factor_required")]
pub async fn set_two_factor_required(slug: String, required: bool) -> Result<(), AppError> {
    use store::two_factor::RequireError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    match store::two_factor::set_required(&cx.state.db, &me, required).await {
        Ok(()) => Ok(()),
        Err(e @ RequireError::OwnerWithout) => Err(cx.refused(actix_web::http::StatusCode::CONFLICT, e.to_string())),
        Err(RequireError::Storage(e)) => Err(cx.internal("saving the sign-in policy", e)),
    }
}

#[component]
fn SignInPolicy(slug: Memo<String>) -> impl IntoView {
    let set = ServerAction::<SetTwoFactorRequired>::new();
    let policy = crate::resource::new(move || (slug.get(), set.version().get()), |(slug, _)| load_sign_in_policy(slug));
    let message = Signal::derive(move || set.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    view! {
        <section class="card" data-testid="sign-in-policy">
            <h2>"Sign-in security"</h2>
            <Suspense fallback=crate::components::field::Loading>
                {move || Suspend::new(async move {
                    let Ok(required) = policy.await else { return ().into_any() };
                    view! {
                        <p class="muted small">
                            {if required {
                                "Every member signs in with a password and a code from an authenticator app. Members without one set it up at their next sign-in."
                            } else {
                                "Each member chooses whether to use two-factor sign-in (on their account page, from their name in the menu)."
                            }}
                        </p>
                        <button class="button" type="button" data-testid="require-two-factor"
                            disabled=move || set.pending().get()
                            on:click=move |_| { set.dispatch(SetTwoFactorRequired { slug: slug.get_untracked(), required: !required }); }>
                            {if required { "Make two-factor sign-in optional" } else { "Require two-factor sign-in for everyone" }}
                        </button>
                    }.into_any()
                })}
            </Suspense>
            <FormError message />
        </section>
    }
}

/// Deletes the business and everything it owns, once the owner typed its address.
#[server(endpoint = "delete_business")]
pub async fn delete_business(slug: String, confirmation: String) -> Result<(), AppError> {
    use store::tenants::DeleteError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    match store::tenants::delete_business(&cx.state.db, &me, &confirmation).await {
        Ok(()) => {
            tracing::info!(business = %me.tenant_slug, by = %me.email, "business deleted by its owner");
            cx.set_cookie(&store::auth::cleared_session_cookie(&cx.state.settings));
            leptos_actix::redirect("/?deleted=1");
            Ok(())
        }
        Err(e @ DeleteError::NotConfirmed(_)) => {
            Err(cx.invalid(vec![engine::FieldError::new("confirmation", e.to_string())]))
        }
        Err(DeleteError::Storage(e)) => Err(cx.internal("deleting the business", e)),
    }
}

#[component]
fn LeaveSteward(slug: Memo<String>) -> impl IntoView {
    let delete = ServerAction::<DeleteBusiness>::new();
    let confirmation = RwSignal::new(String::new());
    let error =
        Signal::derive(move || delete.value().get().and_then(|r| r.err()).and_then(|e| e.field("confirmation")));
    let message = Signal::derive(move || delete.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        delete.dispatch(DeleteBusiness { slug: slug.get_untracked(), confirmation: confirmation.get() });
    };
    view! {
        <section class="card danger-zone" data-testid="leave-steward">
            <h2>"Export or delete this business"</h2>
            <p class="muted small">"The export holds every record the business owns (runs, reviews, workflows, prompts, costs, the audit log, members) as JSON lines; stored secrets stay encrypted."</p>
            <a class="button" href=move || format!("/t/{}/export.jsonl", slug.get()) rel="external" data-testid="export-everything">"Export everything"</a>
            <form class="code-form" on:submit=on_submit novalidate>
                <p class="small">"Deleting removes the business and all its data for good, ends every member's session, and removes the accounts of people who belong to no other business. The deletion itself stays on record."</p>
                <Field name="confirmation" label=format!("Type {} to confirm", slug.get_untracked()) value=confirmation error />
                <FormError message />
                <button class="button danger" type="submit" data-testid="delete-business" disabled=move || delete.pending().get()>
                    "Delete this business"
                </button>
            </form>
        </section>
    }
}
