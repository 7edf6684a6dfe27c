//! Region policy: one deployment serves one region, whose rules come from config/regions/*.toml.
