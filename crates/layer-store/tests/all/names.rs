//! Docker name vectors: every row of `testdata/docker-names.tsv` (shared with the registry
//! client's parser) checked against [`name::parse`]: the normalized reference, or an error for
//! `!`.

use std::path::Path;

use boxwright_layer_store::name;

#[test]
fn every_docker_name_vector() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/docker-names.tsv");
    let table = std::fs::read_to_string(&path).unwrap();
    let mut wrong = Vec::new();
    let mut rows = 0;
    for (i, line) in table.lines().enumerate() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (input, expected) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("line {}: no tab: {line:?}", i + 1));
        rows += 1;
        let got = name::parse(input).map(|r| r.to_string());
        let ok = match (expected, &got) {
            ("!", Err(_)) => true,
            ("!", Ok(_)) => false,
            (want, Ok(have)) => want == have,
            (_, Err(_)) => false,
        };
        if !ok {
            wrong.push(format!(
                "line {}: {input:?}: expected {expected}, got {got:?}",
                i + 1
            ));
        }
    }
    assert!(rows > 20, "only {rows} rows read from {}", path.display());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
