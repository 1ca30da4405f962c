//! Closed sets of words (statuses, kinds, actions) that Steward stores as
//! text. Each is an enum whose variants are written in snake_case
//! everywhere: in contracts (serde), in the database (the text columns and
//! their CHECK constraints; with the `db` feature the enum is a sea-orm value
//! type) and on the page (`as_str`, `Display`, `FromStr`).

/// Declares such an enum with its one spelling per variant and `ALL`.
macro_rules! words {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
            strum::EnumString, strum::IntoStaticStr, strum::Display, strum::VariantArray,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        #[cfg_attr(feature = "db", derive(sea_orm::DeriveValueType), sea_orm(value_type = "String"))]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = <$name as strum::VariantArray>::VARIANTS;

            /// The variant as it is written in contracts, the database and the page.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    };
}
