//! A minimal HTTP/1.1 GET over plain TCP, for the two small things the load tester fetches from
//! a server on the same network: `/metrics` and, optionally, join tokens. No TLS: point it at
//! the server's internal address.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("only http:// URLs are supported here, not {0}")]
    Scheme(String),
    #[error("cannot reach {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("{0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("{0} answered with status {1}")]
    Status(String, u16),
    #[error("{0} sent a malformed response")]
    Malformed(String),
}

/// Splits `http://host:port/path?query` into (`host:port`, `/path?query`).
pub fn split_url(url: &str) -> Result<(String, String), HttpError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HttpError::Scheme(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_owned()))
}

/// GETs `url` and returns the body of a 200 response.
pub async fn get(url: &str, timeout: Duration) -> Result<String, HttpError> {
    tokio::time::timeout(timeout, get_inner(url))
        .await
        .map_err(|_| HttpError::Timeout(url.to_owned(), timeout))?
}

async fn get_inner(url: &str) -> Result<String, HttpError> {
    let (authority, path) = split_url(url)?;
    let mut stream = TcpStream::connect(&authority)
        .await
        .map_err(|e| HttpError::Connect(url.to_owned(), e))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| HttpError::Connect(url.to_owned(), e))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| HttpError::Connect(url.to_owned(), e))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| HttpError::Malformed(url.to_owned()))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HttpError::Malformed(url.to_owned()))?;
    if status != 200 {
        return Err(HttpError::Status(url.to_owned(), status));
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(dechunk(body));
    }
    Ok(body.to_owned())
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/metrics").unwrap(),
            ("127.0.0.1:8080".into(), "/metrics".into())
        );
        assert_eq!(
            split_url("http://localhost").unwrap(),
            ("localhost:80".into(), "/".into())
        );
        assert!(matches!(split_url("https://x/"), Err(HttpError::Scheme(_))));
    }

    #[test]
    fn dechunks() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
