//! Fuzz target `report`: the properties are in `fuzz/checks.rs` (`checks::report`).
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::report(data));
