//! Profile files read as ufw reads them: Python 3's
//! `configparser.RawConfigParser()` with its defaults, line for line
//! (`Lib/configparser.py`, `RawConfigParser._read`).
//!
//! What that means for a profile file:
//! - `[NAME]` opens a section; the name is everything between the first
//!   `[` and the last `]` of the stripped line. `[DEFAULT]` holds values
//!   every section inherits.
//! - `key=value` or `key: value`, split at the first `=` or `:`; keys are
//!   lower-cased, values stripped.
//! - A line indented deeper than its option's line continues the value
//!   (joined with newlines); blank lines inside a value are kept, trailing
//!   ones dropped.
//! - Whole-line comments start with `#` or `;`; there are no inline
//!   comments.
//! - Strict mode: a section or an option given twice in one file, a line
//!   before any section, or a line that is neither, makes the whole file
//!   unreadable (ufw: `Skipping 'FILE': couldn't process`).

/// One section: its name and its `(key, value)` items, defaults included,
/// in configparser's order (the section's own keys, then inherited ones).
pub(super) type Section = (String, Vec<(String, String)>);

/// Why a file cannot be read; ufw words every case the same.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum ParseError {
    /// A section named twice in the file.
    #[error("line {0}: section given twice")]
    DuplicateSection(usize),
    /// An option named twice in one section.
    #[error("line {0}: option given twice")]
    DuplicateOption(usize),
    /// A value before the first section header.
    #[error("line {0}: no section header before it")]
    MissingSectionHeader(usize),
    /// A line that is neither header, option, comment nor continuation.
    #[error("line {0}: not `key=value`")]
    Syntax(usize),
}

/// The default section's name.
const DEFAULT: &str = "DEFAULT";

/// Values of one section while reading: key, lines.
type Lines = Vec<(String, Vec<String>)>;

/// Reads `text` as `RawConfigParser().read_string(text)` would, and gives
/// `sections()` with `items(section)` for each.
///
/// # Errors
/// The first error configparser would collect.
pub(super) fn parse(text: &str) -> Result<Vec<Section>, ParseError> {
    let mut defaults: Lines = Vec::new();
    let mut sections: Vec<(String, Lines)> = Vec::new();
    // Which section is current: None before any, Some(None) for DEFAULT.
    let mut cur: Option<Option<usize>> = None;
    let mut seen_sections: Vec<String> = Vec::new();
    let mut seen_options: Vec<(String, String)> = Vec::new();
    let mut optname: Option<String> = None;
    let mut indent_level = usize::MAX;
    let mut error: Option<ParseError> = None;
    // Python's universal newlines: \n, \r\n and \r end a line.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let lineno = i + 1;
        let line = line.strip_suffix('\n').unwrap_or(line);
        let stripped = py_strip(line);
        let comment = stripped.starts_with('#') || stripped.starts_with(';');
        let value = if comment { "" } else { stripped };
        if value.is_empty() {
            // An empty line joins the value; a comment line does not.
            if !comment && let (Some(c), Some(name)) = (cur, &optname) {
                let target = match c {
                    None => &mut defaults,
                    Some(k) => &mut sections[k].1,
                };
                if let Some((_, v)) = target.iter_mut().find(|(k, _)| k == name) {
                    v.push(String::new());
                }
            }
            continue;
        }
        let cur_indent = line.chars().take_while(|&c| is_py_space(c)).count();
        if let (Some(c), Some(name)) = (cur, &optname)
            && cur_indent > indent_level
        {
            let target = match c {
                None => &mut defaults,
                Some(k) => &mut sections[k].1,
            };
            if let Some((_, v)) = target.iter_mut().find(|(k, _)| k == name) {
                v.push(value.to_owned());
            }
            continue;
        }
        indent_level = cur_indent;
        if let Some(header) = section_header(value) {
            if seen_sections.iter().any(|s| s == header) {
                return Err(ParseError::DuplicateSection(lineno));
            }
            if header == DEFAULT {
                cur = Some(None);
            } else {
                seen_sections.push(header.to_owned());
                sections.push((header.to_owned(), Vec::new()));
                cur = Some(Some(sections.len() - 1));
            }
            optname = None;
            continue;
        }
        let Some(c) = cur else {
            return Err(ParseError::MissingSectionHeader(lineno));
        };
        let Some(cut) = value.find(['=', ':']) else {
            error.get_or_insert(ParseError::Syntax(lineno));
            continue;
        };
        let key = py_rstrip(&value[..cut]).to_lowercase();
        if key.is_empty() {
            error.get_or_insert(ParseError::Syntax(lineno));
            continue;
        }
        let sect = c.map_or(DEFAULT, |k| sections[k].0.as_str()).to_owned();
        if seen_options.iter().any(|(s, k)| *s == sect && *k == key) {
            return Err(ParseError::DuplicateOption(lineno));
        }
        seen_options.push((sect, key.clone()));
        let v = py_strip(&value[cut + 1..]).to_owned();
        let target = match c {
            None => &mut defaults,
            Some(k) => &mut sections[k].1,
        };
        target.push((key.clone(), vec![v]));
        optname = Some(key);
    }
    if let Some(e) = error {
        return Err(e);
    }
    let join = |lines: &[String]| py_rstrip(&lines.join("\n")).to_owned();
    let defaults: Vec<(String, String)> =
        defaults.iter().map(|(k, v)| (k.clone(), join(v))).collect();
    Ok(sections
        .into_iter()
        .map(|(name, own)| {
            let mut items: Vec<(String, String)> =
                own.iter().map(|(k, v)| (k.clone(), join(v))).collect();
            for (k, v) in &defaults {
                if !items.iter().any(|(key, _)| key == k) {
                    items.push((k.clone(), v.clone()));
                }
            }
            (name, items)
        })
        .collect())
}

/// `\[(?P<header>.+)\]` matched at the start: between the first `[` and
/// the last `]`, at least one character.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// Python's whitespace for `str.strip()` without arguments (ASCII part
/// and the Unicode spaces `char::is_whitespace` knows, as Python's).
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items<'a>(s: &'a [Section], name: &str) -> &'a [(String, String)] {
        &s.iter().find(|(n, _)| n == name).expect(name).1
    }

    #[test]
    fn continuation_lines_comments_and_delimiters() {
        let s = parse(
            "# a comment\n[App]\nTitle = My app\ndescription=First line,\n  second line\n\n\
             \tthird after a blank\n; comment inside\n   fourth\nports: 80/tcp|53\n\n\n",
        )
        .unwrap();
        assert_eq!(
            items(&s, "App"),
            [
                ("title".into(), "My app".into()),
                (
                    "description".into(),
                    "First line,\nsecond line\n\nthird after a blank\nfourth".into()
                ),
                ("ports".into(), "80/tcp|53".into()),
            ]
        );
    }

    #[test]
    fn defaults_are_inherited_and_headers_are_permissive() {
        let s = parse("[DEFAULT]\ntitle=t\n[a] trailing\nports=1\n[b]x]\ntitle=own\n").unwrap();
        assert_eq!(s.len(), 2, "DEFAULT is not a section");
        assert_eq!(
            items(&s, "a"),
            [("ports".into(), "1".into()), ("title".into(), "t".into())]
        );
        assert_eq!(items(&s, "b]x"), [("title".into(), "own".into())]);
    }

    #[test]
    fn strict_errors_spoil_the_file() {
        assert_eq!(
            parse("[a]\nx=1\n[a]\n"),
            Err(ParseError::DuplicateSection(3))
        );
        assert_eq!(
            parse("[a]\nx=1\nX = 2\n"),
            Err(ParseError::DuplicateOption(3))
        );
        assert_eq!(parse("x=1\n"), Err(ParseError::MissingSectionHeader(1)));
        assert_eq!(
            parse("[a]\nno delimiter\nx=1\n"),
            Err(ParseError::Syntax(2))
        );
        assert_eq!(parse("[a]\n=1\n"), Err(ParseError::Syntax(2)));
        // A deeper-indented line right after a header is not a continuation.
        assert_eq!(
            parse("[a]\n  x=1\n").unwrap()[0].1,
            [("x".into(), "1".into())]
        );
    }
}
