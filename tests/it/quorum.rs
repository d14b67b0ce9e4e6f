//! Any quorum recovers the same credential; anything less is refused.

use crate::common::*;

fn exhaustive(t: usize, n: usize) {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    fx.generate("s", "prod", t as u8, n).ok();
    let mut seen: Option<Vec<u8>> = None;
    for subset in subsets(n, t) {
        let who: Vec<&str> = subset.iter().map(|&i| CUSTODIANS[i]).collect();
        let out = fx.unseal("s", &who).ok().stdout;
        assert_eq!(out.len(), 64, "32 bytes in hex");
        match &seen {
            None => seen = Some(out),
            Some(first) => assert_eq!(first, &out, "quorum {who:?} gave another credential"),
        }
    }
    for subset in subsets(n, t - 1) {
        let who: Vec<&str> = subset.iter().map(|&i| CUSTODIANS[i]).collect();
        let missing: Vec<&str> = CUSTODIANS[..n]
            .iter()
            .filter(|c| !who.contains(c))
            .copied()
            .collect();
        let run = fx.unseal("s", &who).fails(3, &["1 more needed"]);
        for m in missing {
            assert!(run.stderr.contains(m), "holders named: {}", run.stderr);
        }
        assert!(run.stdout.is_empty());
    }
    // All n at once recover it too (every extra share is checked against the others).
    let all: Vec<&str> = CUSTODIANS[..n].to_vec();
    assert_eq!(fx.unseal("s", &all).ok().stdout, seen.unwrap());
}

#[test]
fn two_of_two() {
    exhaustive(2, 2);
}

#[test]
fn three_of_five() {
    exhaustive(3, 5);
}

#[test]
fn five_of_seven() {
    exhaustive(5, 7);
}

#[test]
fn threshold_one_needs_the_flag_and_then_works() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    fx.generate("s", "prod", 1, 2)
        .fails(2, &["--allow-threshold-one"]);
    let run = fx
        .generate_cmd("s", "prod", 1, 2)
        .arg("--allow-threshold-one")
        .run()
        .ok();
    assert!(
        run.stderr.contains("warning: threshold 1"),
        "{}",
        run.stderr
    );
    let a = fx.unseal("s", &["alice"]).ok().stdout;
    let b = fx.unseal("s", &["bob"]).ok().stdout;
    assert_eq!(a, b);
}
