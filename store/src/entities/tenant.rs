use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "public", table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub schema_name: String,
    pub time_zone: String,
    /// ISO code of the currency its figures are in (`engine::money::Currency`).
    pub currency: String,
    pub created_at: DateTimeUtc,
    /// Every member signs in with a second factor (owner's choice).
    pub require_two_factor: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
