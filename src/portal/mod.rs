//! The patient portal beside the media server: identity numbers, region policy, and (growing)
//! accounts, guardians, the PDL access log and the API around them.

pub mod accounts;
pub mod api;
pub mod audit;
pub mod contact;
pub mod events;
pub mod guardians;
pub mod oidc;
pub mod personnummer;
pub mod policy;
pub mod region;
pub mod register;
pub mod sessions;
pub mod staff;
pub mod test_idp;
