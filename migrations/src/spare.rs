//! Tenant schemas prepared ahead of sign-ups. A new schema's DDL (every
//! tenant migration: some forty tables with their indexes and triggers)
//! took 200–450 ms, growing with the catalog, while the person who signed
//! up waited. A spare schema has it all applied already; a sign-up takes
//! one, brings it up to date (migrations added since it was prepared) and
//! renames it to the business's name, in the sign-up's own transaction, so
//! a sign-up that fails puts the spare back. Without a spare, the schema is
//! built as before. The server prepares spares when a sign-up starts and
//! after one finishes (`top_up`), never more than asked for.

use crate::{create_tenant_schema, set_tenant_search_path, tenant, MigratorTrait};
use engine::tenant::is_tenant_schema_name;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait,
};

/// A name no business's schema can have: a slug starts with a letter.
fn spare_name() -> String {
    format!("t__spare_{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

/// Prepares spare schemas until `wanted` are waiting; how many it prepared.
/// Each is one transaction of its own. Two callers at once take turns (an
/// advisory lock), so they do not both prepare the last one.
pub async fn top_up(db: &DatabaseConnection, wanted: usize) -> Result<usize, DbErr> {
    let mut prepared = 0;
    loop {
        let txn = db.begin().await?;
        let row = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock(hashtext('steward:spare-schemas')) AS locked,
                        (SELECT count(*) FROM public.spare_schemas) AS waiting",
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("the spare schemas' count".into()))?;
        let locked: bool = row.try_get("", "locked")?;
        let waiting: i64 = row.try_get("", "waiting")?;
        if !locked || waiting >= wanted as i64 {
            txn.commit().await?;
            return Ok(prepared);
        }
        let name = spare_name();
        create_tenant_schema(&txn, &name).await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO public.spare_schemas (schema_name) VALUES ($1)",
            [name.into()],
        ))
        .await?;
        txn.commit().await?;
        prepared += 1;
    }
}

/// How many spare schemas are waiting.
pub async fn waiting(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS value FROM public.spare_schemas",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the spare schemas' count".into()))?;
    row.try_get("", "value")
}

/// Makes `schema` out of a spare, inside the caller's transaction, and
/// points the transaction at it; false when no spare was waiting (the
/// caller builds the schema instead). Two sign-ups at once take different
/// spares (SKIP LOCKED).
pub async fn take(txn: &DatabaseTransaction, schema: &str) -> Result<bool, DbErr> {
    if !is_tenant_schema_name(schema) {
        return Err(DbErr::Custom(format!("refusing invalid tenant schema name {schema:?}")));
    }
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "DELETE FROM public.spare_schemas
              WHERE schema_name = (SELECT schema_name FROM public.spare_schemas
                                    ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
          RETURNING schema_name, to_regnamespace(schema_name) IS NOT NULL AS present",
        ))
        .await?;
    let Some(row) = row else { return Ok(false) };
    let spare: String = row.try_get("", "schema_name")?;
    let present: bool = row.try_get("", "present")?;
    // A spare dropped by hand is forgotten (the DELETE above) and not used.
    if !present || !is_tenant_schema_name(&spare) {
        return Ok(false);
    }
    // Migrations written since the spare was prepared.
    set_tenant_search_path(txn, &spare).await?;
    tenant::Migrator::up(txn, None).await?;
    // Identifiers cannot be bound; both names passed the check above. A
    // function created `SET search_path FROM CURRENT` (bump_config_generation)
    // keeps the name it was created under: it is pointed at the new one.
    txn.execute_unprepared(&format!(
        r#"ALTER SCHEMA "{spare}" RENAME TO "{schema}";
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = '"{schema}"'::regnamespace AND 'search_path={spare}' = ANY (p.proconfig)
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I', f, '{schema}');
    END LOOP;
END $$;"#
    ))
    .await?;
    set_tenant_search_path(txn, schema).await?;
    Ok(true)
}
