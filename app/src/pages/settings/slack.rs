//! Settings → Slack (owner only): connect the business's Slack app (bot
//! token and signing secret), see the Interactivity Request URL to paste
//! into it, and link members to their Slack users so a click in Slack
//! decides as that member.

use crate::components::copy::CopyButton;
use crate::components::field::{Field, FormError};
use crate::error::AppError;
use crate::views::{SlackMemberView, SlackView};
use leptos::prelude::*;

#[server(endpoint = "load_slack")]
pub async fn load_slack(slug: String) -> Result<SlackView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    let db = &cx.state.db;
    let connection =
        store::slack::connection(db, &me.tenant).await.map_err(|e| cx.internal("reading the Slack connection", e))?;
    let links = store::slack::links(db, &me.tenant).await.map_err(|e| cx.internal("reading the Slack links", e))?;
    let members = store::members::list(db, me.tenant.id()).await.map_err(|e| cx.internal("listing members", e))?;
    Ok(SlackView {
        team: connection.as_ref().map(|c| c.team.clone()),
        connected: connection
            .map(|c| format!("by {} on {}", c.connected_by, c.connected_at.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default(),
        request_url: cx.state.settings.link(&format!("/slack/interactions/{}", me.tenant_slug)),
        members: members
            .into_iter()
            .map(|m| SlackMemberView {
                slack_user_id: links
                    .iter()
                    .find(|l| l.email == m.email)
                    .map(|l| l.slack_user_id.clone())
                    .unwrap_or_default(),
                role: engine::Role::parse(&m.role).map(|r| r.label().to_string()).unwrap_or(m.role),
                email: m.email,
            })
            .collect(),
    })
}

/// Returns the workspace's name.
#[server(endpoint = "connect_slack")]
pub async fn connect_slack(slug: String, bot_token: String, signing_secret: String) -> Result<String, AppError> {
    use store::slack::SlackSetupError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    let state = &cx.state;
    match store::slack::connect(&state.db, &state.settings, &state.http, &me, &bot_token, &signing_secret).await {
        Ok(team) => Ok(team),
        Err(SlackSetupError::Fields(errors)) => Err(cx.invalid(errors)),
        Err(SlackSetupError::Storage(e)) => Err(cx.internal("saving the Slack connection", e)),
    }
}

#[server(endpoint = "link_slack_member")]
pub async fn link_slack_member(slug: String, email: String, slack_user_id: String) -> Result<(), AppError> {
    use store::slack::SlackSetupError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    match store::slack::link_member(&cx.state.db, &me, &email, &slack_user_id).await {
        Ok(()) => Ok(()),
        Err(SlackSetupError::Fields(errors)) => Err(cx.invalid(errors)),
        Err(SlackSetupError::Storage(e)) => Err(cx.internal("linking the Slack user", e)),
    }
}

#[component]
pub fn SlackSettings(slug: Memo<String>) -> impl IntoView {
    let connect = ServerAction::<ConnectSlack>::new();
    let link = ServerAction::<LinkSlackMember>::new();
    // Typed secrets live here, so a refused attempt keeps them for the next
    // try; the card reloads only after a connection was made, which clears them.
    let bot_token = RwSignal::new(String::new());
    let signing_secret = RwSignal::new(String::new());
    let connected = RwSignal::new(0u32);
    Effect::new(move |_| {
        if matches!(connect.value().get(), Some(Ok(_))) {
            bot_token.set(String::new());
            signing_secret.set(String::new());
            connected.update(|n| *n += 1);
        }
    });
    let slack = crate::resource::new(move || (slug.get(), connected.get()), |(slug, _)| load_slack(slug));
    view! {
        <section class="card" data-testid="slack-settings">
            <h2>"Slack"</h2>
            <p class="muted small">
                "Review tasks of workflows with "<code>"review: { slack_channel: \"#channel\" }"</code>
                " are also posted to that channel, with Approve and Reject buttons. A click decides as the member linked to the Slack user, with that member's role."
            </p>
            <Suspense fallback=crate::components::field::Loading>
                {move || Suspend::new(async move {
                    let Ok(view_data) = slack.await else { return ().into_any() };
                    view! {
                        <ConnectForm slug connect bot_token signing_secret team=view_data.team.clone() connected=view_data.connected.clone() request_url=view_data.request_url.clone() />
                        <MemberLinks slug link members=view_data.members />
                    }.into_any()
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn ConnectForm(
    slug: Memo<String>,
    connect: ServerAction<ConnectSlack>,
    bot_token: RwSignal<String>,
    signing_secret: RwSignal<String>,
    team: Option<String>,
    connected: String,
    request_url: String,
) -> impl IntoView {
    let error = move |field: &'static str| {
        Signal::derive(move || connect.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
    };
    let form_message =
        Signal::derive(move || connect.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        connect.dispatch(ConnectSlack {
            slug: slug.get_untracked(),
            bot_token: bot_token.get(),
            signing_secret: signing_secret.get(),
        });
    };
    let status = match &team {
        Some(team) => view! {
            <p class="notice" role="status" data-testid="slack-connected">
                {format!("Connected to the Slack workspace {team} ({connected}).")}
            </p>
        }
        .into_any(),
        None => view! {
            <p class="muted" data-testid="slack-not-connected">
                "Not connected. In Slack, create an app (api.slack.com/apps) with the chat:write scope, install it to your workspace, invite it to the review channel, and paste its credentials here."
            </p>
        }
        .into_any(),
    };
    view! {
        {status}
        <div class="paste-block">
            <p class="small">"In the app's Interactivity & Shortcuts page, turn Interactivity on and set the Request URL to:"</p>
            <CopyButton target="slack-request-url" />
            <pre class="snippet" tabindex="0" data-testid="slack-request-url">{request_url}</pre>
        </div>
        <form class="model-form" data-testid="slack-connect" on:submit=on_submit novalidate>
            <Field name="bot_token" label="Bot User OAuth Token" kind="password" value=bot_token error=error("bot_token")
                hint="OAuth & Permissions → Bot User OAuth Token (xoxb-…)" autocomplete="off" />
            <Field name="signing_secret" label="Signing Secret" kind="password" value=signing_secret error=error("signing_secret")
                hint="Basic Information → App Credentials → Signing Secret" autocomplete="off" />
            <button class="button primary" type="submit" disabled=move || connect.pending().get()>
                {if team.is_some() { "Connect again" } else { "Connect Slack" }}
            </button>
        </form>
        <FormError message=form_message />
    }
}

#[component]
fn MemberLinks(
    slug: Memo<String>,
    link: ServerAction<LinkSlackMember>,
    members: Vec<SlackMemberView>,
) -> impl IntoView {
    // Which row was saved last, so its verdict shows beside it and nowhere else.
    let last = RwSignal::new(String::new());
    let rows = members
        .into_iter()
        .map(|m| {
            let id = RwSignal::new(m.slack_user_id.clone());
            let email = m.email.clone();
            let input_id = format!("slack-id-{}", m.email.replace(['@', '.'], "-"));
            let mine = {
                let email = email.clone();
                move || last.get() == email
            };
            let (mine_a, mine_b) = (mine.clone(), mine);
            let error = Signal::derive(move || {
                mine_a().then(|| link.value().get().and_then(|r| r.err()).and_then(|e| e.field("slack_user_id"))).flatten()
            });
            let saved = move || mine_b() && matches!(link.value().get(), Some(Ok(())));
            let on_submit = move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                last.set(email.clone());
                link.dispatch(LinkSlackMember { slug: slug.get_untracked(), email: email.clone(), slack_user_id: id.get() });
            };
            view! {
                <tr data-testid="slack-member">
                    <td data-label="Member"><div>{m.email.clone()}<br /><span class="muted small">{m.role.clone()}</span></div></td>
                    <td data-label="Slack member ID">
                        <form class="inline-form slack-link" on:submit=on_submit novalidate>
                            <label class="visually-hidden" for=input_id.clone()>{format!("Slack member ID of {}", m.email)}</label>
                            <input id=input_id name="slack_user_id" placeholder="U04ABCDE12" prop:value=move || id.get()
                                on:input=move |ev| id.set(event_target_value(&ev)) aria-invalid=move || error.get().is_some().to_string() />
                            <button class="button small" type="submit">"Save"</button>
                            <Show when=saved><span class="badge live" role="status">"Saved"</span></Show>
                            <p class="field-error" role="alert">{move || error.get().unwrap_or_default()}</p>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h3>"Who is who in Slack"</h3>
        <p class="muted small">"A click decides only as a linked member. In Slack: open the person's profile, ⋮ → Copy member ID. Leave empty to unlink."</p>
        <table class="table" data-testid="slack-members">
            <thead><tr><th>"Member"</th><th>"Slack member ID"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
