//! The patient portal beside the media server: identity numbers, region policy, and (growing)
//! accounts, guardians, the PDL access log and the API around them.

pub mod accounts;
pub mod audit;
pub mod contact;
pub mod guardians;
pub mod personnummer;
pub mod region;
pub mod register;
