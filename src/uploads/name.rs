//! The name a file is stored, announced and downloaded under, made from the name the uploader
//! sent. That name is the client's to choose and ends up in other people's chat and in the
//! `Content-Disposition` of their download, so it is cleaned rather than trusted:
//!
//! - **no path**: only what follows the last `/` or `\` is kept, so `../../etc/passwd`,
//!   `C:\Users\x\rash.jpg` and `/tmp/rash.jpg` become `passwd`…, `rash.jpg`, `rash.jpg`;
//! - **no invisible or control characters**: C0/C1 controls, and the Unicode format characters
//!   that reorder or hide text (`U+202E` would show `rash\u{202E}gpj.exe` as `rashexe.jpg`), are
//!   dropped; characters Windows refuses in names (`:*?"<>|`) become `_`; leading and trailing
//!   dots and spaces go (no hidden files, no `..`);
//! - **an extension that tells the truth**: the last extension must fit the type sniffed from
//!   the content; one that does not is replaced (`scan.png` holding a JPEG is `scan.jpg`), and a
//!   name without one gets one (`scan` holding a PDF is `scan.pdf`);
//! - **bounded**: at most [`MAX_NAME_CHARS`] characters, cut in the stem so the extension stays.
//!
//! A name with nothing left (`..`, only controls) is called `file` with its extension. Cleaning
//! never fails: whatever the uploader sent, the file gets a safe name.

use super::sniff::FileType;

/// Longest stored name, in characters, the extension included.
pub const MAX_NAME_CHARS: usize = 100;

/// The stem of a name that had nothing usable in it.
const FALLBACK_STEM: &str = "file";

/// Device names Windows will not create a file under, with any extension.
const WINDOWS_RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// The clean name of an upload of type `kind` that its uploader called `raw`.
pub fn sanitise(raw: &str, kind: FileType) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_format(*c))
        .map(|c| if is_forbidden(c) { '_' } else { c })
        .collect();
    let trimmed = trim_dots_and_spaces(&cleaned);

    let (stem, extension) = match trimmed.rsplit_once('.') {
        Some((stem, ext)) if !trim_dots_and_spaces(stem).is_empty() => (stem, Some(ext)),
        _ => (trimmed, None),
    };
    let extension = match extension {
        Some(ext)
            if kind
                .extensions()
                .contains(&ext.to_ascii_lowercase().as_str()) =>
        {
            ext
        }
        _ => kind.extensions()[0],
    };

    let room = MAX_NAME_CHARS - extension.chars().count() - 1;
    let mut stem: String = trim_dots_and_spaces(stem).chars().take(room).collect();
    stem = trim_dots_and_spaces(&stem).to_owned();
    if stem.is_empty() {
        stem = FALLBACK_STEM.to_owned();
    }
    if WINDOWS_RESERVED.contains(&stem.to_ascii_uppercase().as_str()) {
        stem.push('_');
    }
    format!("{stem}.{extension}")
}

fn trim_dots_and_spaces(s: &str) -> &str {
    s.trim_matches(|c: char| c == '.' || c.is_whitespace())
}

/// Characters that are not allowed in file names on Windows (the other big client).
fn is_forbidden(c: char) -> bool {
    matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|')
}

/// Unicode format characters that change how the text around them is shown without showing
/// themselves: bidirectional embeddings, overrides and isolates, zero-width characters, the
/// byte-order mark, soft hyphen.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(raw: &str) -> String {
        sanitise(raw, FileType::Jpeg)
    }

    #[test]
    fn ordinary_names_stay_as_they_were() {
        assert_eq!(jpeg("utslag på armen.jpg"), "utslag på armen.jpg");
        assert_eq!(jpeg("IMG_0042.JPEG"), "IMG_0042.JPEG");
        assert_eq!(
            sanitise("remiss 2026-03.pdf", FileType::Pdf),
            "remiss 2026-03.pdf"
        );
    }

    #[test]
    fn path_components_are_dropped() {
        assert_eq!(jpeg("../../etc/passwd"), "passwd.jpg");
        assert_eq!(jpeg("..\\..\\windows\\rash.jpg"), "rash.jpg");
        assert_eq!(jpeg("C:\\Users\\pat\\rash.jpg"), "rash.jpg");
        assert_eq!(jpeg("/tmp/rash.jpg"), "rash.jpg");
        assert_eq!(jpeg("folder/"), "file.jpg");
        assert_eq!(jpeg(".."), "file.jpg");
        assert_eq!(jpeg("../.."), "file.jpg");
        assert_eq!(jpeg(".bashrc"), "bashrc.jpg");
    }

    #[test]
    fn control_and_invisible_characters_are_dropped_and_windows_specials_replaced() {
        assert_eq!(jpeg("ras\nh\r\0.jpg"), "rash.jpg");
        assert_eq!(jpeg("\u{7}bell\u{85}.jpg"), "bell.jpg");
        // Shown as "rashexe.jpg" by a bidi-aware display; really an .exe name turned around.
        assert_eq!(jpeg("rash\u{202E}gpj.exe"), "rashgpj.jpg");
        assert_eq!(jpeg("a\u{200B}b\u{FEFF}.jpg"), "ab.jpg");
        assert_eq!(jpeg("what?:*\"<>|.jpg"), "what_______.jpg");
        assert_eq!(jpeg("rash.jpg:stream"), "rash.jpg");
        assert_eq!(jpeg("  rash.jpg. . "), "rash.jpg");
        assert_eq!(jpeg("\u{202E}\u{200B}"), "file.jpg");
    }

    #[test]
    fn the_extension_matches_the_content() {
        assert_eq!(sanitise("scan.png", FileType::Jpeg), "scan.jpg");
        assert_eq!(sanitise("scan", FileType::Pdf), "scan.pdf");
        assert_eq!(sanitise("photo.jpg", FileType::Png), "photo.png");
        assert_eq!(sanitise("setup.exe", FileType::Png), "setup.png");
        assert_eq!(sanitise("page.html", FileType::Pdf), "page.pdf");
        assert_eq!(sanitise("report.v2", FileType::Pdf), "report.pdf");
        assert_eq!(
            sanitise("archive.tar.pdf", FileType::Pdf),
            "archive.tar.pdf"
        );
        assert_eq!(sanitise("CON.jpg", FileType::Jpeg), "CON_.jpg");
        assert_eq!(sanitise("nul", FileType::Png), "nul_.png");
    }

    #[test]
    fn long_names_are_cut_in_the_stem() {
        let long = format!("{}.jpeg", "å".repeat(500));
        let name = jpeg(&long);
        assert_eq!(name.chars().count(), MAX_NAME_CHARS);
        assert!(name.ends_with("å.jpeg"), "{name}");
        let dotted = format!("a{}.pdf", ". ".repeat(200));
        assert_eq!(sanitise(&dotted, FileType::Pdf), "a.pdf");
    }

    #[test]
    fn whatever_comes_in_the_result_is_safe() {
        let samples = [
            "",
            " ",
            ".",
            "/",
            "\\",
            "a/b\\c",
            "\u{0}",
            "....jpg",
            "x.JPG",
            "ä.pdf.exe",
            "%2e%2e%2f",
            "~/.ssh/id_rsa",
            "con.txt",
        ];
        for raw in samples {
            for kind in [FileType::Jpeg, FileType::Png, FileType::Pdf] {
                let name = sanitise(raw, kind);
                assert!(!name.contains(['/', '\\']), "{raw:?} → {name:?}");
                assert!(!name.chars().any(char::is_control), "{raw:?} → {name:?}");
                assert!(!name.starts_with('.'), "{raw:?} → {name:?}");
                assert!(name.chars().count() <= MAX_NAME_CHARS);
                let ext = name.rsplit_once('.').unwrap().1.to_ascii_lowercase();
                assert!(
                    kind.extensions().contains(&ext.as_str()),
                    "{raw:?} → {name:?}"
                );
            }
        }
    }
}
