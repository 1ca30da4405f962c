//! Opening a business in two steps: the form, then a six-digit code sent to
//! the email. The answer to the form is the same whether the email already
//! has an account or not; only the mailbox learns which it was (a new
//! account's code, or "you already have an account" with a code that opens
//! the business under that account).

use crate::{
    config::Settings,
    db::stmt,
    entities::user,
    jobs::EmailJob,
    tenants::{self, NewBusiness, Owner, SignupError},
};
use engine::{
    form::escape,
    signup::{ValidSignup, CODE_MINUTES},
    Email, FieldError, TenantSlug,
};
use rand::Rng;
use sea_orm::{prelude::*, ConnectionTrait, DatabaseConnection, FromQueryResult};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Wrong codes one sign-up takes before it must be started again.
pub const CODE_ATTEMPTS: i32 = 5;

/// Records the sign-up and writes the email that carries its code.
/// Refuses only what the form itself shows (a taken business address).
pub async fn start(
    db: &DatabaseConnection,
    settings: &Settings,
    signup: &ValidSignup,
) -> Result<EmailJob, SignupError> {
    if tenants::find_by_slug(db, signup.slug.as_str()).await?.is_some() {
        return Err(SignupError::Fields(vec![tenants::slug_taken()]));
    }
    // Hashed either way, so both answers take as long.
    let password_hash = tenants::hash_password(&signup.password).await?;
    let email = signup.email.as_str();
    let has_account = user::Entity::find().filter(user::Column::Email.eq(email)).one(db).await?.is_some();
    let id = Uuid::new_v4();
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    // One sign-up waits per email: a new one replaces it (and expired ones go).
    db.execute_raw(stmt(
        "DELETE FROM public.pending_sign_ups WHERE email = $1 OR expires_at < now()",
        vec![email.into()],
    ))
    .await?;
    db.execute_raw(stmt(
        "INSERT INTO public.pending_sign_ups (id, email, business_name, slug, password_hash, code_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(mins => $7))",
        vec![
            id.into(),
            email.into(),
            signup.business_name.clone().into(),
            signup.slug.as_str().into(),
            (!has_account).then_some(password_hash).into(),
            code_hash(id, &code).into(),
            (CODE_MINUTES as i32).into(),
        ],
    ))
    .await?;
    let letter = Letter { business: &signup.business_name, slug: &signup.slug, code: &code };
    Ok(if has_account { letter.existing_account(settings, email) } else { letter.new_account(email) })
}

/// What typing the code did.
#[derive(Debug)]
pub enum Confirmed {
    /// A new account owns the new business; sign it in.
    NewAccount(NewBusiness),
    /// The email's existing account owns it; it signs in with its own
    /// password (and second factor), not with the emailed code.
    ExistingAccount(NewBusiness),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error("That code is not right. Check the latest email from Steward and type its six digits.")]
    WrongCode,
    #[error("This code has expired or was used up. Send a new code.")]
    Expired,
    #[error("the business could not be opened")]
    Fields(Vec<FieldError>),
    #[error(transparent)]
    Storage(#[from] DbErr),
}

#[derive(FromQueryResult)]
struct Pending {
    id: Uuid,
    business_name: String,
    slug: String,
    password_hash: Option<String>,
    code_hash: String,
    attempts: i32,
}

/// Opens the business when the code matches the latest sign-up for the email.
pub async fn confirm(db: &DatabaseConnection, email: &str, code: &str) -> Result<Confirmed, ConfirmError> {
    let email = Email::parse(email).map_err(|m| ConfirmError::Fields(vec![FieldError::new("email", m)]))?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let pending = Pending::find_by_statement(stmt(
        "SELECT id, business_name, slug, password_hash, code_hash, attempts FROM public.pending_sign_ups
          WHERE email = $1 AND expires_at > now() ORDER BY created_at DESC LIMIT 1",
        vec![email.as_str().into()],
    ))
    .one(db)
    .await?
    .ok_or(ConfirmError::Expired)?;
    if pending.attempts >= CODE_ATTEMPTS {
        return Err(ConfirmError::Expired);
    }
    let matches: bool = code_hash(pending.id, &code).as_bytes().ct_eq(pending.code_hash.as_bytes()).into();
    if !matches {
        db.execute_raw(stmt(
            "UPDATE public.pending_sign_ups SET attempts = attempts + 1 WHERE id = $1",
            vec![pending.id.into()],
        ))
        .await?;
        return Err(ConfirmError::WrongCode);
    }
    // Taken in one statement: a code typed twice at once opens one business.
    let taken = db
        .execute_raw(stmt("DELETE FROM public.pending_sign_ups WHERE id = $1", vec![pending.id.into()]))
        .await?
        .rows_affected();
    if taken != 1 {
        return Err(ConfirmError::Expired);
    }
    let slug = TenantSlug::parse(&pending.slug).map_err(|m| ConfirmError::Fields(vec![FieldError::new("slug", m)]))?;
    let existing = user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(db).await?;
    let owner = match (existing, pending.password_hash) {
        (Some(account), _) => Owner::Existing { user_id: account.id },
        (None, Some(password_hash)) => Owner::New { email: email.as_str().to_owned(), password_hash },
        // The account was deleted since: its password is not known here.
        (None, None) => return Err(ConfirmError::Expired),
    };
    let existing = matches!(owner, Owner::Existing { .. });
    match tenants::open_business(db, &pending.business_name, &slug, owner).await {
        Ok(created) if existing => Ok(Confirmed::ExistingAccount(created)),
        Ok(created) => Ok(Confirmed::NewAccount(created)),
        Err(SignupError::Fields(errors)) => Err(ConfirmError::Fields(errors)),
        Err(SignupError::Storage(e)) => Err(ConfirmError::Storage(e)),
    }
}

/// The code, salted with its sign-up's id.
fn code_hash(id: Uuid, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{id}:{code}").as_bytes()))
}

struct Letter<'a> {
    business: &'a str,
    slug: &'a TenantSlug,
    code: &'a str,
}

impl Letter<'_> {
    fn job(to: &str, subject: String, text: String, html: String) -> EmailJob {
        EmailJob {
            // Not a business's email: no business exists yet.
            tenant_id: Uuid::nil(),
            to: to.to_owned(),
            subject,
            text,
            html,
            attachments: Vec::new(),
            outbox_id: None,
        }
    }

    fn new_account(&self, to: &str) -> EmailJob {
        let (business, slug, code) = (self.business, self.slug.as_str(), self.code);
        let text = format!(
            "Type this code on the sign-up page to open {business} on Steward (your address: /t/{slug}):\n\n    {code}\n\n\
             It works for {CODE_MINUTES} minutes. If you did not try to open a business on Steward, ignore this email: \
             nothing was created.\n"
        );
        let html = page(
            &format!("Your code for {}", escape(business)),
            &format!(
                "<p>Type this code on the sign-up page to open <strong>{}</strong> on Steward.</p>{}\
                 <p style=\"color:#52606d;font-size:13px\">It works for {CODE_MINUTES} minutes. If you did not try to open \
                 a business on Steward, ignore this email: nothing was created.</p>",
                escape(business),
                code_block(code)
            ),
        );
        Self::job(to, format!("{code} is your Steward code"), text, html)
    }

    fn existing_account(&self, settings: &Settings, to: &str) -> EmailJob {
        let (business, code) = (self.business, self.code);
        let login = settings.link("/login");
        let text = format!(
            "Someone, hopefully you, tried to open {business} on Steward with this email. You already have a Steward \
             account, so no new account was made and your password stays as it is.\n\n\
             To sign in to your businesses: {login}\n\n\
             To open {business} as another business of your account, type this code on the sign-up page, then sign in \
             with the password you already have:\n\n    {code}\n\n\
             It works for {CODE_MINUTES} minutes. If this was not you, ignore this email: nothing changes.\n"
        );
        let html = page(
            "You already have a Steward account",
            &format!(
                "<p>Someone, hopefully you, tried to open <strong>{b}</strong> on Steward with this email. You already have \
                 an account, so no new account was made and your password stays as it is.</p>\
                 <p><a href=\"{l}\" style=\"display:inline-block;background:#2457d6;color:#fff;padding:10px 18px;\
                 border-radius:6px;text-decoration:none\">Sign in</a></p>\
                 <p>To open <strong>{b}</strong> as another business of your account, type this code on the sign-up page, \
                 then sign in with the password you already have:</p>{c}\
                 <p style=\"color:#52606d;font-size:13px\">It works for {CODE_MINUTES} minutes. If this was not you, ignore \
                 this email: nothing changes.</p>",
                b = escape(business),
                l = escape(&login),
                c = code_block(code),
            ),
        );
        Self::job(to, format!("{code} is your Steward code (you already have an account)"), text, html)
    }
}

fn code_block(code: &str) -> String {
    format!(
        "<p style=\"font-size:28px;letter-spacing:6px;font-weight:600;font-family:ui-monospace,monospace\">{}</p>",
        escape(code)
    )
}

fn page(heading: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#1f2933;max-width:560px;margin:auto;\
         padding:24px\"><h1 style=\"font-size:20px\">{heading}</h1>{body}</body></html>"
    )
}
