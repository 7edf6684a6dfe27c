//! What a file is, read from its first bytes, never from its name or the `Content-Type` a client
//! sent: both are the client's to choose, so an executable or an HTML page renamed `rash.jpg`
//! would pass a check of either. The signatures are the formats' own (ISO/IEC 10918-1 for JPEG,
//! RFC 2083 for PNG, ISO 32000 for PDF); anything else is refused.
//!
//! Sniffing says what a file claims to be, not that every byte after the header is well formed.
//! What keeps a crafted file harmless after it passes is how it is served: as a download
//! (`Content-Disposition: attachment`), with the stored type, `nosniff` and a sandboxing CSP
//! (`http.rs`), so that a browser never runs it as a page.

/// The kinds of file a participant may upload into a call's chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Jpeg,
    Png,
    Pdf,
}

impl FileType {
    /// The type the file is stored and served with.
    pub fn content_type(self) -> &'static str {
        match self {
            FileType::Jpeg => "image/jpeg",
            FileType::Png => "image/png",
            FileType::Pdf => "application/pdf",
        }
    }

    /// The type of a stored `content_type`, for reading rows back.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        [FileType::Jpeg, FileType::Png, FileType::Pdf]
            .into_iter()
            .find(|t| t.content_type() == content_type)
    }

    /// File name extensions that fit the type, the one given to names without one first.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            FileType::Jpeg => &["jpg", "jpeg"],
            FileType::Png => &["png"],
            FileType::Pdf => &["pdf"],
        }
    }
}

/// JPEG: start of image (`FF D8`) followed by the marker prefix of the next segment (`FF`).
const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
/// PNG: the eight-byte signature, whose first chunk must be the image header.
const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
const PNG_FIRST_CHUNK: std::ops::Range<usize> = 12..16;
/// PDF: the header comment `%PDF-` and a version that starts with a digit (`1.7`, `2.0`).
const PDF: &[u8] = b"%PDF-";

/// The type of `bytes` by their signature, or `None` when they are none of the accepted kinds.
pub fn sniff(bytes: &[u8]) -> Option<FileType> {
    if bytes.len() > JPEG.len() && bytes.starts_with(JPEG) {
        return Some(FileType::Jpeg);
    }
    if bytes.starts_with(PNG) && bytes.get(PNG_FIRST_CHUNK) == Some(b"IHDR".as_slice()) {
        return Some(FileType::Png);
    }
    if bytes.starts_with(PDF) && bytes.get(PDF.len()).is_some_and(u8::is_ascii_digit) {
        return Some(FileType::Pdf);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_kinds_are_known_by_their_first_bytes() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16]),
            Some(FileType::Jpeg)
        );
        let mut png = PNG.to_vec();
        png.extend_from_slice(&[0, 0, 0, 13]);
        png.extend_from_slice(b"IHDR");
        assert_eq!(sniff(&png), Some(FileType::Png));
        assert_eq!(sniff(b"%PDF-1.7\n%\xE2\xE3"), Some(FileType::Pdf));
    }

    #[test]
    fn names_and_lookalikes_do_not_make_a_file_acceptable() {
        for bytes in [
            // An executable (ELF, PE), HTML, SVG (scriptable), a ZIP, text.
            &b"\x7FELF\x02\x01\x01\0"[..],
            b"MZ\x90\0\x03\0\0\0",
            b"<!DOCTYPE html><script>alert(1)</script>",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"PK\x03\x04",
            b"hello",
            // Too short to be what they start like, or not quite it.
            &[0xFF, 0xD8, 0xFF],
            PNG,
            b"%PDF-",
            b"%PDF-x",
            b" %PDF-1.7",
            b"",
        ] {
            assert_eq!(sniff(bytes), None, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn stored_types_read_back() {
        for t in [FileType::Jpeg, FileType::Png, FileType::Pdf] {
            assert_eq!(FileType::from_content_type(t.content_type()), Some(t));
        }
        assert_eq!(FileType::from_content_type("text/html"), None);
    }
}
