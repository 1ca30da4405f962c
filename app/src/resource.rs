//! Page data: Leptos resources whose value hydrates through the same JSON
//! reader as a server function's answer. Leptos's default codec reads with
//! `serde_json::from_str` and server functions with `from_slice`, so every
//! view type had two JSON deserializers in the browser bundle (about a
//! tenth of the wasm); reading both ways with `from_slice` keeps one.

use leptos::prelude::Resource;
use leptos::server::codee::{Decoder, Encoder};
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;

/// JSON written with `to_string`, read with `from_slice`.
pub struct Json;

impl<T: Serialize> Encoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, Self::Error> {
        serde_json::to_string(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(text: &str) -> Result<T, Self::Error> {
        serde_json::from_slice(text.as_bytes())
    }
}

/// A resource as `Resource::new` makes it, read back with [`Json`].
#[track_caller]
pub fn new<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, Json>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Send + Sync + Clone + PartialEq + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

/// The signed-in member's workspace (business, role, menu), loaded once by
/// the workspace's layout and given to its pages as context.
pub type Workspace = Resource<Result<crate::views::WorkspaceView, crate::error::AppError>, Json>;

/// How many review tasks the signed-in member could decide now, counted by
/// the workspace's layout on every navigation (the menu's badge) and read by
/// the dashboard's card, so one page load asks once.
#[derive(Clone, Copy)]
pub struct WaitingCount(pub Resource<i64, Json>);
