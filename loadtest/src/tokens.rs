//! Join tokens for simulated participants: minted from the server's secret, or fetched from a
//! URL that hands them out.

use std::time::Duration;

use vardrum_signalling::Role;
use vardrum_signalling::token::{Grant, TokenIssuer};

pub enum TokenSource {
    /// Mint locally with the server's signing secret.
    Secret(TokenIssuer),
    /// GET `<url>?room=..&identity=..&name=..&role=patient`; the body is the token.
    Url(String),
}

impl TokenSource {
    pub async fn token(&self, room: &str, identity: &str) -> anyhow::Result<String> {
        match self {
            TokenSource::Secret(issuer) => {
                let now = crate::media::now_us() / 1_000_000;
                let name = format!("Load {identity}");
                let grant = Grant::visit(identity, &name, room, Role::Patient);
                Ok(issuer.mint(&grant, now, 6 * 3600)?)
            }
            TokenSource::Url(url) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let url = format!(
                    "{url}{sep}room={room}&identity={identity}&name=Load%20{identity}&role=patient"
                );
                let body = crate::http::get(&url, Duration::from_secs(10)).await?;
                Ok(body.trim().trim_matches('"').to_owned())
            }
        }
    }
}
