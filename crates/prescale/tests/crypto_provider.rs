//! One TLS crypto provider: ring. kube, tonic, tokio-rustls, rcgen and reqwest all use rustls
//! on ring (reqwest is built with `rustls-no-provider`, and prescale-collect installs ring as
//! the process default). A dependency whose defaults pull aws-lc-rs (reqwest's `rustls`
//! feature does) would compile a second C crypto library, aws-lc-sys, next to ring: this test
//! reads the workspace's Cargo.lock and fails when it comes back. (cargo deny's `bans` check
//! in deny.toml says the same where cargo-deny is installed.)

use std::path::Path;

/// The package names in the workspace's Cargo.lock.
fn locked_packages() -> Vec<String> {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    let text = std::fs::read_to_string(&lock)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", lock.display()));
    text.lines()
        .filter_map(|line| line.strip_prefix("name = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn ring_is_the_only_crypto_provider() {
    let packages = locked_packages();
    assert!(
        packages.iter().any(|p| p == "rustls"),
        "Cargo.lock parsed wrong: no rustls in {} packages",
        packages.len()
    );
    assert!(
        packages.iter().any(|p| p == "ring"),
        "ring is not in Cargo.lock"
    );
    let second: Vec<&String> = packages
        .iter()
        .filter(|p| matches!(p.as_str(), "aws-lc-rs" | "aws-lc-sys" | "aws-lc-fips-sys"))
        .collect();
    assert!(
        second.is_empty(),
        "a second crypto provider is in Cargo.lock: {second:?}; find who pulls it with \
         `cargo tree -i aws-lc-rs --workspace --all-features -e features` and turn its TLS \
         feature to ring (reqwest: `rustls-no-provider`)"
    );
}

#[test]
fn no_openssl() {
    let packages = locked_packages();
    let openssl: Vec<&String> = packages
        .iter()
        .filter(|p| matches!(p.as_str(), "openssl" | "openssl-sys" | "native-tls"))
        .collect();
    assert!(openssl.is_empty(), "OpenSSL is in Cargo.lock: {openssl:?}");
}
