//! The current route's parameters (`/t/:slug/workflows/:name`), read
//! reactively by the pages that show one business's things.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// Route parameter `name`, empty when the route has none.
pub fn param(name: &'static str) -> Memo<String> {
    let params = use_params_map();
    Memo::new(move |_| params.read().get(name).unwrap_or_default())
}
