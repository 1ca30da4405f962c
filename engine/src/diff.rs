//! Side-by-side line diff of two versions (workflow YAML or prompt JSON).

use serde::{Deserialize, Serialize};
use similar::{ChangeTag, TextDiff};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineChange {
    Same,
    Removed,
    Added,
}

/// One row of the side-by-side view: the old line on the left, the new on
/// the right; a removed line has no right side and an added one no left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffRow {
    pub change: LineChange,
    pub left: Option<(usize, String)>,
    pub right: Option<(usize, String)>,
}

pub fn side_by_side(old: &str, new: &str) -> Vec<DiffRow> {
    TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|c| {
            let text = c.value().trim_end_matches(['\n', '\r']).to_owned();
            let left = c.old_index().map(|i| (i + 1, text.clone()));
            let right = c.new_index().map(|i| (i + 1, text));
            let change = match c.tag() {
                ChangeTag::Equal => LineChange::Same,
                ChangeTag::Delete => LineChange::Removed,
                ChangeTag::Insert => LineChange::Added,
            };
            DiffRow { change, left, right }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changed_lines_with_their_numbers_on_each_side() {
        let rows = side_by_side("a\nb\nc\n", "a\nB\nc\nd\n");
        let changes: Vec<_> = rows.iter().map(|r| r.change).collect();
        assert_eq!(
            changes,
            [LineChange::Same, LineChange::Removed, LineChange::Added, LineChange::Same, LineChange::Added]
        );
        assert_eq!(rows[1].left, Some((2, "b".into())));
        assert_eq!(rows[2].right, Some((2, "B".into())));
        assert_eq!(rows[4].right, Some((4, "d".into())));
    }
}
