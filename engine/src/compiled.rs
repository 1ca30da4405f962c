//! Compiled forms of the small documents a run evaluates again and again
//! (CEL conditions, the JSON Schemas of prompt answers), kept per process
//! by their source text, so a workflow's rule is parsed once, not once per
//! run. A failure to compile is not kept (it is reported each time, as
//! before). The table is emptied when it grows past `MOST` sources, so a
//! process serving many businesses keeps a bounded amount.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Sources kept at most before the table starts afresh.
const MOST: usize = 2048;

pub struct Compiled<V> {
    kept: Mutex<HashMap<String, Arc<V>>>,
}

impl<V> Default for Compiled<V> {
    fn default() -> Self {
        Compiled { kept: Mutex::new(HashMap::new()) }
    }
}

impl<V> Compiled<V> {
    /// The compiled form of `source`, compiled by `compile` the first time.
    pub fn get(&self, source: &str, compile: impl FnOnce() -> Result<V, String>) -> Result<Arc<V>, String> {
        // A poisoned lock only means a panic elsewhere while it was held; the table is whole.
        if let Some(kept) = self.kept.lock().unwrap_or_else(|p| p.into_inner()).get(source) {
            return Ok(kept.clone());
        }
        // Compiled outside the lock: two callers may compile one source at once, and both results are the same.
        let compiled = Arc::new(compile()?);
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= MOST {
            kept.clear();
        }
        kept.insert(source.to_owned(), compiled.clone());
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_source_is_compiled_once_and_a_failure_is_not_kept() {
        let table = Compiled::<usize>::default();
        let compiles = AtomicUsize::new(0);
        let compile = |source: &str| {
            compiles.fetch_add(1, Ordering::Relaxed);
            source.parse::<usize>().map_err(|e| e.to_string())
        };
        assert_eq!(*table.get("42", || compile("42")).unwrap(), 42);
        assert_eq!(*table.get("42", || compile("42")).unwrap(), 42);
        assert_eq!(compiles.load(Ordering::Relaxed), 1, "the second use reads the compiled form");
        assert!(table.get("x", || compile("x")).is_err());
        assert!(table.get("x", || compile("x")).is_err());
        assert_eq!(compiles.load(Ordering::Relaxed), 3, "a failure is compiled (and reported) again");
    }

    #[test]
    fn the_table_starts_afresh_past_its_bound() {
        let table = Compiled::<usize>::default();
        for n in 0..MOST + 1 {
            table.get(&n.to_string(), || Ok(n)).unwrap();
        }
        assert_eq!(table.kept.lock().unwrap().len(), 1, "emptied at the bound, then the newest kept");
    }
}
