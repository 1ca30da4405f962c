//! Where things are in a YAML document, for error messages with a line and
//! column. The YAML parser gives positions only for syntax errors; semantic
//! errors (a duplicate step id, an unknown step type) are located here by
//! reading the document's block structure, which handles both the block
//! style and the one-line flow style (`- { id: x, type: llm }`) contracts use.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
}

pub struct SourceMap<'a> {
    lines: Vec<&'a str>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// A range of lines, `start..end`, 0-based.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    pub start: usize,
    pub end: usize,
}

impl<'a> SourceMap<'a> {
    pub fn new(source: &'a str) -> Self {
        Self { lines: source.lines().collect() }
    }

    pub fn whole(&self) -> Block {
        Block { start: 0, end: self.lines.len() }
    }

    /// The lines of a top-level key, including the key's own line.
    pub fn top_level(&self, key: &str) -> Option<Block> {
        let prefix = format!("{key}:");
        let start = self.lines.iter().position(|l| indent(l) == 0 && l.starts_with(&prefix))?;
        let end = (start + 1..self.lines.len())
            .find(|&i| !is_blank_or_comment(self.lines[i]) && indent(self.lines[i]) == 0)
            .unwrap_or(self.lines.len());
        Some(Block { start, end })
    }

    /// The items (`- ...`) of the block sequence inside `block`, one block each.
    pub fn items(&self, block: Block) -> Vec<Block> {
        let starts: Vec<usize> =
            (block.start..block.end).filter(|&i| self.lines[i].trim_start().starts_with('-')).collect();
        let Some(item_indent) = starts.iter().map(|&i| indent(self.lines[i])).min() else { return Vec::new() };
        let starts: Vec<usize> = starts.into_iter().filter(|&i| indent(self.lines[i]) == item_indent).collect();
        starts
            .iter()
            .enumerate()
            .map(|(n, &s)| Block { start: s, end: starts.get(n + 1).copied().unwrap_or(block.end) })
            .collect()
    }

    /// The position of the value of `key:` inside a block (or of the key
    /// itself when it has no value on its line).
    pub fn value_of(&self, block: Block, key: &str) -> Option<Position> {
        for i in block.start..block.end.min(self.lines.len()) {
            let line = self.lines[i];
            let mut from = 0;
            while let Some(found) = line[from..].find(key) {
                let at = from + found;
                let before_ok = at == 0 || !line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
                let after = &line[at + key.len()..];
                if before_ok && after.starts_with(':') {
                    let rest = &after[1..];
                    let skipped = rest.len() - rest.trim_start().len();
                    let col = if rest.trim().is_empty() { at } else { at + key.len() + 1 + skipped };
                    return Some(Position { line: i + 1, column: col + 1 });
                }
                from = at + key.len();
            }
        }
        None
    }

    /// The position of the first occurrence of `text` inside a block.
    pub fn text(&self, block: Block, text: &str) -> Option<Position> {
        (block.start..block.end.min(self.lines.len()))
            .find_map(|i| self.lines[i].find(text).map(|c| Position { line: i + 1, column: c + 1 }))
    }

    /// The first line of a block, at its first non-space character.
    pub fn start_of(&self, block: Block) -> Position {
        let line = self.lines.get(block.start).copied().unwrap_or("");
        Position { line: block.start + 1, column: indent(line) + 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "workflow: x\nsteps:\n  - { id: a, type: llm }\n  - id: b\n    type: rules\n    when: 'x > 1'\napproval:\n  required_when: [ { confidence_below: 0.5 } ]\n";

    #[test]
    fn finds_items_and_their_values_in_block_and_flow_style() {
        let map = SourceMap::new(DOC);
        let steps = map.items(map.top_level("steps").unwrap());
        assert_eq!(steps.len(), 2);
        assert_eq!(map.value_of(steps[0], "type"), Some(Position { line: 3, column: 20 }));
        assert_eq!(map.value_of(steps[1], "type"), Some(Position { line: 5, column: 11 }));
        assert_eq!(map.value_of(steps[1], "when"), Some(Position { line: 6, column: 11 }));
        let approval = map.top_level("approval").unwrap();
        assert_eq!(map.value_of(approval, "confidence_below"), Some(Position { line: 8, column: 40 }));
    }
}
