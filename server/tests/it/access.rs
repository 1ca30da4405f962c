//! Roles are enforced on the server for every page and server function, and
//! a member of one business is refused everywhere in another.
//!
//! The server functions are read from the app's source, so a new server
//! function fails this test until `access` says who may call it; then every
//! other role, another business and a signed-out visitor are refused.

use crate::support::{TestApp, DEMO};
use engine::{Page, Role};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Who may call a server function.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anyone, signed in or not (signing in, signing up, invitations).
    Public,
    /// Members whose role may open the page.
    Members(Page),
    /// Members whose role may open the page and is one of these.
    MembersAs(Page, &'static [Role]),
}

const EDITORS: &[Role] = &[Role::Engineer, Role::Owner];
const SUPERVISORS: &[Role] = &[Role::Operations, Role::Owner];

/// The access rule of every server function, by endpoint.
fn access(endpoint: &str) -> Access {
    use Access::*;
    match endpoint {
        "sign_in" | "sign_up" | "load_invitation" | "accept_invitation" => Public,
        // The emailed code is the credential: it opens only the sign-up it was sent for.
        "confirm_sign_up" => Public,
        // The second sign-in step: they act only on the pending sign-in in the caller's own cookie.
        "sign_in_code" | "sign_in_set_up" | "sign_in_set_up_confirm" => Public,
        "two_factor_status"
        | "start_two_factor"
        | "confirm_two_factor"
        | "turn_off_two_factor"
        | "new_recovery_codes" => Members(Page::Account),
        // Ends the caller's own session, whichever business's address it is called with.
        "sign_out" => Public,
        "load_workspace" | "sign_out_everywhere" | "waiting_decisions" => Members(Page::Dashboard),
        "load_checklist" | "first_run_choice" => MembersAs(Page::Dashboard, &[Role::Owner]),
        // The page it opens decides; the test asks for the dashboard, which every role may open.
        "open_section" => Members(Page::Dashboard),
        "list_members"
        | "invite_member"
        | "change_member_role"
        | "remove_member"
        | "load_cost_rates"
        | "save_cost_rates"
        | "add_reason_code"
        | "remove_reason_code"
        | "list_reason_codes"
        | "load_slack"
        | "connect_slack"
        | "link_slack_member"
        | "load_sign_in_policy"
        | "set_two_factor_required"
        | "load_one_person"
        | "declare_one_person"
        | "load_currency"
        | "choose_currency"
        | "delete_business" => Members(Page::Settings),
        "list_workflows" | "check_workflow" | "workflow_detail" | "workflow_diff" | "list_gallery"
        | "workflow_triggers" => Members(Page::Workflows),
        "save_workflow"
        | "set_workflow_owners"
        | "approve_workflow_version"
        | "install_gallery_workflow"
        | "import_bundle"
        | "rotate_webhook_secret"
        | "paste_webhook_secret"
        | "set_up_trigger"
        | "set_mapping_row"
        | "save_form_words" => MembersAs(Page::Workflows, EDITORS),
        "publish_workflow_version" | "set_exception_retention" | "set_data_retention" => {
            MembersAs(Page::Workflows, &[Role::Engineer, Role::Operations, Role::Owner])
        }
        "load_replays" | "list_replays" | "replay_detail" => Members(Page::Workflows),
        // On the run's page: it offers the datasets to engineers and owners, and nothing to other readers of runs.
        "datasets_for_run" => Members(Page::Runs),
        "make_dataset" | "delete_dataset" | "add_run_to_dataset" | "start_replay" | "cancel_replay" => {
            MembersAs(Page::Workflows, EDITORS)
        }
        // The gate guards what engineers publish.
        "set_publish_gate" => MembersAs(Page::Workflows, &[Role::Owner]),
        "list_prompts" | "prompt_detail" | "prompt_diff" | "try_prompt" => Members(Page::Prompts),
        "save_prompt" | "move_prompt_label" => MembersAs(Page::Prompts, EDITORS),
        "list_data_contracts" | "data_contract_detail" | "test_data_contract" => Members(Page::DataContracts),
        "add_data_contract_template" | "save_data_contract" => MembersAs(Page::DataContracts, EDITORS),
        "list_models" | "add_model" | "set_model_tier" | "test_model_connection" => Members(Page::Models),
        "list_secrets" | "set_secret" => MembersAs(Page::Models, EDITORS),
        "list_runs" | "run_detail" | "list_exceptions" | "delivery_health" => Members(Page::Runs),
        "retry_run" => MembersAs(Page::Runs, &[Role::Engineer, Role::Operations, Role::Owner]),
        "review_queue" | "review_task" | "claim_task" | "release_task" | "decide_review" => Members(Page::ReviewQueue),
        "reassign_tasks" | "close_tasks" => MembersAs(Page::ReviewQueue, SUPERVISORS),
        "cost_report" | "open_cost_alerts" => Members(Page::Costs),
        "save_budget" => MembersAs(Page::Costs, SUPERVISORS),
        "monthly_report" => Members(Page::Reports),
        "save_baseline" => MembersAs(Page::Reports, SUPERVISORS),
        "recompute_scorecard" => MembersAs(Page::Reports, &[Role::Owner]),
        "governance_review" => Members(Page::Governance),
        "save_candidate" | "start_candidate" => MembersAs(Page::Governance, SUPERVISORS),
        "list_changes" | "verify_audit_chain" => Members(Page::ChangeLog),
        "list_api_tokens" | "create_api_token" | "revoke_api_token" => Members(Page::ApiTokens),
        other => panic!("server function {other} has no access rule: add it to `access` in tests/it/access.rs"),
    }
}

impl Access {
    fn allows(self, role: Role) -> Option<bool> {
        match self {
            Access::Public => None,
            Access::Members(page) => Some(page.allows(role)),
            Access::MembersAs(page, roles) => Some(page.allows(role) && roles.contains(&role)),
        }
    }
}

/// A server function as the app declares it: its endpoint and its arguments (name, type, optional).
#[derive(Debug, Clone)]
struct ServerFn {
    endpoint: String,
    args: Vec<(String, String, bool)>,
}

/// Every `#[server(endpoint = "…")]` function in the app's source, with its arguments.
fn server_fns() -> Vec<ServerFn> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let mut rest = source.as_str();
        while let Some(at) = rest.find("#[server(endpoint = \"") {
            rest = &rest[at + 21..];
            let endpoint = rest[..rest.find('"').unwrap()].to_string();
            let signature = &rest[rest.find("pub async fn ").expect("a server function follows its attribute")..];
            let open = signature.find('(').unwrap();
            // The argument list ends at the parenthesis that closes the one after the name.
            let mut depth = 0;
            let close = signature[open..]
                .char_indices()
                .find_map(|(i, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    (depth == 0).then_some(open + i)
                })
                .unwrap();
            // Commas inside a type (`BTreeMap<String, String>`) do not separate arguments.
            let mut angle = 0;
            let args = signature[open + 1..close]
                .split(|c| {
                    match c {
                        '<' => angle += 1,
                        '>' => angle -= 1,
                        _ => {}
                    }
                    c == ',' && angle == 0
                })
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    let optional = a.contains("#[server(default)]");
                    let a = a.replace("#[server(default)]", "");
                    let (name, ty) = a.split_once(':').unwrap();
                    let ty = ty.trim().to_string();
                    (name.trim().to_string(), ty.clone(), optional || ty.starts_with("Option<"))
                })
                .collect();
            found.push(ServerFn { endpoint, args });
        }
    }
    found.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    found
}

/// Arguments a server function can read (the refusal comes before anything is done with them).
fn arguments(f: &ServerFn, slug: &str) -> Vec<(&'static str, String)> {
    f.args
        .iter()
        .filter(|(_, _, optional)| !optional)
        .map(|(name, ty, _)| {
            let value = match (name.as_str(), ty.as_str()) {
                ("slug", _) => slug.to_string(),
                (_, "i32") => "1".into(),
                (_, "bool") => "false".into(),
                (_, "Page") => "dashboard".into(),
                _ => "x".into(),
            };
            (&*Box::leak(name.clone().into_boxed_str()), value)
        })
        .collect()
}

#[test]
fn every_server_function_has_an_access_rule() {
    let fns = server_fns();
    assert!(fns.len() >= 50, "the app's server functions were not found ({})", fns.len());
    for f in &fns {
        access(&f.endpoint);
    }
    let mut names: Vec<&str> = fns.iter().map(|f| f.endpoint.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), fns.len(), "two server functions share an endpoint");
}

async fn member_id(app: &TestApp, email: &str) -> String {
    app.db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id::text AS id FROM public.users WHERE email = $1",
            [email.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "id")
        .unwrap()
}

async fn call(client: &crate::support::Client, endpoint: &str, args: &[(&'static str, String)]) -> reqwest::Response {
    let form: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    client.call(endpoint, &form).await
}

#[tokio::test]
async fn every_page_refuses_the_roles_that_may_not_open_it() {
    let app = TestApp::spawn().await;
    for role in Role::ALL {
        let client = app.demo_member(role).await;
        for page in Page::ALL {
            let res = client.get(&page.href(DEMO)).await;
            let expected = if page.allows(role) { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(res.status(), expected, "{role} opening {page:?}");
        }
    }
}

/// A server function call: endpoint, arguments, and the page whose roles it follows.
type Call = (&'static str, Vec<(&'static str, String)>, Page);

/// The member-management calls with real arguments, which the allowed role must be able to make.
fn member_calls(slug: &str, member_id: &str) -> Vec<Call> {
    let s = || ("slug", slug.to_string());
    let mut fns = vec![
        ("load_workspace", vec![s()], Page::Dashboard),
        ("list_members", vec![s()], Page::Settings),
        (
            "invite_member",
            vec![s(), ("email", "new.person@acme-plumbing.test".into()), ("role", "reviewer".into())],
            Page::Settings,
        ),
        ("change_member_role", vec![s(), ("user_id", member_id.into()), ("role", "executive".into())], Page::Settings),
        ("remove_member", vec![s(), ("user_id", member_id.into())], Page::Settings),
    ];
    for page in Page::ALL {
        let name = serde_json::to_value(page).unwrap().as_str().unwrap().to_owned();
        fns.push(("open_section", vec![s(), ("page", name)], page));
    }
    fns
}

#[tokio::test]
async fn every_server_function_refuses_the_roles_that_may_not_use_it() {
    let app = TestApp::spawn().await;
    // The target of member changes is the engineer; the refused calls must not touch them.
    let engineer = member_id(&app, "engineer@acme-plumbing.test").await;
    for role in Role::ALL.into_iter().filter(|r| *r != Role::Owner) {
        let client = app.demo_member(role).await;
        for (endpoint, args, page) in member_calls(DEMO, &engineer) {
            let res = call(&client, endpoint, &args).await;
            if page.allows(role) {
                assert_eq!(res.status(), StatusCode::OK, "{role} calling {endpoint} {args:?}");
            } else {
                assert_eq!(res.status(), StatusCode::FORBIDDEN, "{role} calling {endpoint} {args:?}");
            }
        }
        // Every other server function, read from the source: a role its rule does not allow is refused.
        for f in server_fns() {
            if access(&f.endpoint).allows(role) == Some(false) {
                let res = call(&client, &f.endpoint, &arguments(&f, DEMO)).await;
                assert_eq!(res.status(), StatusCode::FORBIDDEN, "{role} calling {}", f.endpoint);
            }
        }
    }
    let members = store::members::list(&app.db, demo_tenant_id(&app).await).await.unwrap();
    assert_eq!(members.len(), 5, "no refused call removed anyone");
    assert!(members.iter().any(|m| m.email == "engineer@acme-plumbing.test" && m.role == "engineer"));
}

async fn demo_tenant_id(app: &TestApp) -> uuid::Uuid {
    store::tenants::find_by_slug(&app.db, DEMO).await.unwrap().unwrap().id
}

#[tokio::test]
async fn a_member_of_another_business_is_refused_everywhere_and_learns_nothing() {
    let app = TestApp::spawn().await;
    let outsider = app.client();
    let res =
        outsider.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.example", "copper kettle harbor 42").await;
    assert_eq!(res.status(), StatusCode::OK);
    let engineer = member_id(&app, "engineer@acme-plumbing.test").await;

    for page in Page::ALL {
        let res = outsider.get(&page.href(DEMO)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "opening {page:?} of Acme");
        let body = res.text().await.unwrap();
        assert!(!body.contains("@acme-plumbing.test"), "{page:?} leaked a member of Acme");
    }
    for (endpoint, args, _) in member_calls(DEMO, &engineer) {
        let res = call(&outsider, endpoint, &args).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "calling {endpoint} on Acme");
        assert!(!res.text().await.unwrap().contains("@acme-plumbing.test"));
    }
    // Every server function behind sign-in, with Acme's address, whatever the outsider's role at home.
    for f in server_fns().into_iter().filter(|f| !matches!(access(&f.endpoint), Access::Public)) {
        let res = call(&outsider, &f.endpoint, &arguments(&f, DEMO)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "calling {} on Acme", f.endpoint);
        assert!(!res.text().await.unwrap().contains("@acme-plumbing.test"), "{} leaked a member of Acme", f.endpoint);
    }
    // Nothing was written to Acme.
    let members = store::members::list(&app.db, demo_tenant_id(&app).await).await.unwrap();
    assert_eq!(members.len(), 5);
    assert!(members.iter().any(|m| m.email == "engineer@acme-plumbing.test" && m.role == "engineer"));
    assert!(store::members::pending_invitations(&app.db, demo_tenant_id(&app).await).await.unwrap().is_empty());

    // And the other way round: Acme's owner cannot reach Rival.
    let acme_owner = app.demo_member(Role::Owner).await;
    assert_eq!(acme_owner.get("/t/rival-plumbing/settings").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        call(&acme_owner, "list_members", &[("slug", "rival-plumbing".into())]).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in() {
    let app = TestApp::spawn().await;
    let visitor = app.client();
    for page in Page::ALL {
        let res = visitor.get(&page.href(DEMO)).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/t/acme-plumbing/login");
    }
    assert_eq!(visitor.call("list_members", &[("slug", DEMO)]).await.status(), StatusCode::UNAUTHORIZED);
    for f in server_fns().into_iter().filter(|f| !matches!(access(&f.endpoint), Access::Public)) {
        let res = call(&visitor, &f.endpoint, &arguments(&f, DEMO)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{} without signing in", f.endpoint);
    }
    assert_eq!(visitor.get("/t/acme-plumbing/login").await.status(), StatusCode::OK);
}

async fn search_path<C: ConnectionTrait>(db: &C) -> String {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT current_setting('search_path') AS path"))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "path")
        .unwrap()
}

#[tokio::test]
async fn tenant_work_runs_with_a_transaction_local_search_path() {
    let app = TestApp::spawn().await;
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    assert_eq!(search_path(&txn).await, "t_acme_plumbing");
    txn.commit().await.unwrap();
    // After the transaction the pooled connection is back to the default path.
    let after = search_path(&app.db).await;
    assert!(!after.contains("t_acme_plumbing"), "{after}");
    assert!(store::db::tenant_txn(&app.db, "public; drop table x").await.is_err());
}

#[tokio::test]
async fn only_a_recomputable_write_skips_waiting_for_the_disk_and_transaction_settings_end_with_it() {
    use sea_orm::sqlx::{self, Row as _};
    use store::db::Commit;
    let app = TestApp::spawn().await;
    let tenant = app.demo_current_member(engine::Role::Owner).await.tenant;
    let path = tenant.schema().to_owned();
    // One connection, so each transaction below runs where the one before it ran.
    let db = store::db::connect(&app.settings.database_url, 1).await.unwrap();
    let settings = |mut txn: sqlx::Transaction<'static, sqlx::Postgres>| async move {
        let row = sqlx::query(
            "SELECT current_setting('synchronous_commit') AS s, current_setting('plan_cache_mode') AS m,
                    current_setting('search_path') AS p",
        )
        .fetch_one(&mut *txn)
        .await
        .unwrap();
        let read: (String, String, String) = (row.get("s"), row.get("m"), row.get("p"));
        txn.commit().await.unwrap();
        read
    };
    let owned = |commit: &str, plans: &str| (commit.to_owned(), plans.to_owned(), path.clone());
    let recomputable = settings(store::db::begin_with(&db, &tenant, Commit::Recomputable).await.unwrap()).await;
    assert_eq!(recomputable, owned("off", "auto"));
    // The next unit of work on the same connection (the door's, say) waits for the disk again.
    let durable = settings(store::db::begin_fast(&db, &tenant).await.unwrap()).await;
    assert_eq!(durable, owned("on", "auto"));
    // A lone statement is a transaction of its own (the run groups' opening and ending): what it sets
    // locally as it runs (the business's path; for an ending, not waiting for the disk) ends with it.
    let pool = db.get_postgres_connection_pool();
    let inside = sqlx::query(sqlx::AssertSqlSafe(store::db::in_schema(
        "WITH local AS MATERIALIZED (
             SELECT set_config('search_path', '{schema}', true), set_config('synchronous_commit', 'off', true))
         SELECT current_setting('synchronous_commit') AS s, current_setting('search_path') AS p FROM local",
        &tenant,
    )))
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((inside.get::<String, _>("s"), inside.get::<String, _>("p")), ("off".to_owned(), path.clone()));
    let bare: String = sqlx::query_scalar("SELECT current_setting('search_path')").fetch_one(pool).await.unwrap();
    assert!(!bare.contains(&path), "the next statement on the connection is back on the default path: {bare}");
    let after = settings(store::db::begin_fast(&db, &tenant).await.unwrap()).await;
    assert_eq!(after, owned("on", "auto"));
    // The run groups' own pool plans their statements about sets of runs once per connection; every other pool
    // plans as PostgreSQL likes.
    let sets = store::db::connect_for_sets(&app.settings.database_url, 1).await.unwrap();
    let plans = "SELECT current_setting('plan_cache_mode')";
    let mode: String = sqlx::query_scalar(plans).fetch_one(sets.get_postgres_connection_pool()).await.unwrap();
    assert_eq!(mode, "force_generic_plan");
    let mode: String = sqlx::query_scalar(plans).fetch_one(pool).await.unwrap();
    assert_eq!(mode, "auto");
}
