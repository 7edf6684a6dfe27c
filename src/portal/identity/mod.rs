//! Who someone is: the OpenID Connect login (and the built-in test IdP that stands in for
//! e-legitimation in development), the personnummer it yields, the population register that
//! says who that person is, and the browser session that follows.

pub mod login;
pub mod oidc;
pub mod personnummer;
pub mod register;
pub mod sessions;
pub mod test_idp;
