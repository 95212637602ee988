//! Fuzzes the Dockerfile parser: no input may panic, and whatever parses must print back to text
//! that parses to the same instructions.
#![no_main]

use boxwright_dockerfile_parser::parse_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = parse_bytes(data) else { return };
    if !file.prints_exactly() {
        return;
    }
    let printed = file.to_string();
    let again = boxwright_dockerfile_parser::parse(&printed)
        .unwrap_or_else(|e| panic!("printed form does not parse: {e}\n{printed}"));
    assert!(file.same_as(&again), "printing changed the file:\n{printed}");
});
