//! `zeroth.toml`: any text is refused or read, and what is read writes back and reads
//! back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeroth_core::config::Config;

fuzz_target!(|text: &str| {
    if let Ok(config) = toml::from_str::<Config>(text) {
        let written = toml::to_string_pretty(&config).expect("a config read is written");
        let back: Config = toml::from_str(&written).expect("a config written reads back");
        assert_eq!(toml::to_string_pretty(&back).unwrap(), written);
    }
});
