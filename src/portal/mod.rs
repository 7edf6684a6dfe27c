//! The patient portal beside the media server: identity numbers, region policy, and (growing)
//! accounts, guardians, the PDL access log and the API around them.

pub mod audit;
pub mod personnummer;
pub mod region;
