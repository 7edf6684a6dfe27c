//! Join tokens for simulated participants: minted from the server's secret, or fetched from a
//! URL that hands them out.

use std::time::Duration;

use vardrum_signalling::token::{Grant, TokenIssuer};
use vardrum_signalling::{Role, RoomKind};

pub enum TokenSource {
    /// Mint locally with the server's signing secret.
    Secret(TokenIssuer),
    /// GET `<url>?room=..&identity=..&name=..&role=patient` (`role=clinician&kind=group` for a
    /// group visit's host, `kind=group` for its patients); the body is the token.
    Url(String),
}

impl TokenSource {
    pub async fn token(
        &self,
        room: &str,
        identity: &str,
        role: Role,
        kind: RoomKind,
    ) -> anyhow::Result<String> {
        match self {
            TokenSource::Secret(issuer) => {
                let now = crate::media::now_us() / 1_000_000;
                let name = format!("Load {identity}");
                let grant = Grant {
                    kind,
                    ..Grant::visit(identity, &name, room, role)
                };
                Ok(issuer.mint(&grant, now, 6 * 3600)?)
            }
            TokenSource::Url(url) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let kind = match kind {
                    RoomKind::Visit => String::new(),
                    other => format!("&kind={}", other.as_str()),
                };
                let url = format!(
                    "{url}{sep}room={room}&identity={identity}&name=Load%20{identity}&role={}{kind}",
                    role.as_str()
                );
                let body = crate::http::get(&url, Duration::from_secs(10)).await?;
                Ok(body.trim().trim_matches('"').to_owned())
            }
        }
    }
}
