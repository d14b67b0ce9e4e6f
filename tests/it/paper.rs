//! Paper shares: a printable card per custodian whose QR code gives the share back, and
//! the generated shell completions and manual pages.

use std::path::Path;

use crate::common::*;

/// Renders a card as a printer would (resvg, twice the CSS pixel density) and decodes
/// every QR code on it with rqrr.
fn scan(card: &Path) -> Vec<String> {
    use resvg::{tiny_skia, usvg};
    let svg = std::fs::read_to_string(card).unwrap();
    let tree = usvg::Tree::from_str(&svg, &usvg::Options::default()).unwrap();
    let scale = 2.0;
    let size = tree.size();
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    let mut pixmap = tiny_skia::Pixmap::new(w, h).unwrap();
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let data = pixmap.data();
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
        let i = (y * w as usize + x) * 4;
        // RGBA, premultiplied over white: the green channel is luminance enough.
        data[i + 1]
    });
    image
        .detect_grids()
        .iter()
        .map(|g| g.decode().expect("the QR code decodes").1)
        .collect()
}

#[test]
fn paper_cards_carry_the_share_and_their_qr_code_gives_it_back() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let cards = fx.path().join("cards");
    std::fs::create_dir(&cards).unwrap();
    let out = fx
        .zeroth()
        .args(["--json", "generate", "vault-root", "--env", "prod"])
        .args(["--owner", "platform", "--purpose", "unseal vault"])
        .args(["--rotate-every", "90d", "--threshold", "2"])
        .args([
            "--custodian",
            "alice",
            "--custodian",
            "bob",
            "--custodian",
            "carol",
        ])
        .arg("--paper")
        .arg(&cards)
        .run()
        .ok();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["custodians"][0]["share_file"].is_null(), "{json}");
    assert!(
        std::fs::read_dir(fx.shares_dir()).unwrap().next().is_none(),
        "paper only: no share files"
    );
    let mut scanned = Vec::new();
    for who in ["alice", "bob", "carol"] {
        let card = cards.join(format!("vault-root.{who}.card.svg"));
        assert_eq!(json["custodians"].as_array().unwrap().len(), 3);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&card).unwrap().permissions().mode() & 0o777,
            0o600,
            "a card is secret"
        );
        let svg = std::fs::read_to_string(&card).unwrap();
        for expected in [
            "zeroth share: SECRET",
            ">vault-root<",
            ">prod<",
            &format!(">{who}<"),
            "threshold 2",
            "Share set",
            "zeroth share verify FILE",
        ] {
            assert!(svg.contains(expected), "{who}'s card lacks {expected:?}");
        }
        let codes = scan(&card);
        assert_eq!(codes.len(), 1, "one QR code on {who}'s card");
        let share = zeroth::share::Share::from_armor(&codes[0]).expect("the QR code is a share");
        assert_eq!(share.custodian, who);
        // The grouped lines printed on the card are the same share.
        for line in codes[0].lines().filter(|l| l.starts_with(char::is_numeric)) {
            assert!(svg.contains(line), "{who}'s card lacks the line {line:?}");
        }
        let file = fx.path().join(format!("{who}.scanned"));
        std::fs::write(&file, &codes[0]).unwrap();
        scanned.push(file);
    }
    // The scanned shares recover the credential, and a check alone passes.
    fx.zeroth()
        .args(["share", "verify"])
        .arg(&scanned[1])
        .run()
        .ok();
    let run = fx
        .zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .arg(&scanned[0])
        .arg("--share")
        .arg(&scanned[2])
        .run()
        .ok();
    assert_eq!(run.stdout.len(), 64);

    // A card is never written over a file.
    std::fs::write(cards.join("other.bob.card.svg"), "mine").unwrap();
    unchanged(&fx, &["prod"], || {
        fx.generate_cmd("other", "prod", 2, 3)
            .arg("--paper")
            .arg(&cards)
            .run()
    })
    .fails(
        3,
        &["other.bob.card.svg already exists", "never overwrites"],
    );
    let a_file = fx.path().join("a-file");
    std::fs::write(&a_file, "not a directory").unwrap();
    unchanged(&fx, &["prod"], || {
        fx.generate_cmd("other", "prod", 2, 3)
            .arg("--paper")
            .arg(a_file.join("cards"))
            .run()
    })
    .fails(2, &["--paper", "a-file is not a directory"]);
}

#[test]
fn completions_and_manual_pages_come_from_the_command_line_definitions() {
    let fx = Fixture::new();
    // The scripts ask zeroth itself (COMPLETE=SHELL zeroth), which knows the
    // commands and reads seal and environment names from the store: see
    // ux::completion_offers_the_stores_seals_and_environments.
    let bash = fx.zeroth().args(["completions", "bash"]).run().ok();
    let bash = bash.stdout_str();
    assert!(bash.contains("_clap_complete_zeroth()"), "{bash}");
    assert!(bash.contains("COMPLETE=\"bash\""), "{bash}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = fx.zeroth().args(["completions", shell]).run().ok();
        assert!(out.stdout_str().contains("zeroth"), "{shell}");
    }
    fx.zeroth()
        .args(["completions", "tcsh"])
        .run()
        .fails(2, &["invalid value 'tcsh'"]);
    let man = fx.zeroth().arg("man").run().ok().stdout_str();
    assert!(
        man.starts_with(".ie") || man.contains(".TH zeroth"),
        "{man}"
    );
    assert!(man.contains("unseal"));
    let dir = fx.path().join("man");
    std::fs::create_dir(&dir).unwrap();
    let out = fx.zeroth().args(["man", "--out-dir"]).arg(&dir).run().ok();
    assert!(out.stdout_str().contains("manual pages written"));
    for page in ["zeroth.1", "zeroth-generate.1", "zeroth-unseal.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    let page = std::fs::read_to_string(dir.join("zeroth-unseal.1")).unwrap();
    assert!(page.contains("identity"), "{page}");
    for section in [
        ".SH EXAMPLES",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
    ] {
        assert!(page.contains(section), "zeroth-unseal.1 lacks {section}");
        assert!(man.contains(section), "zeroth.1 lacks {section}");
    }
    for var in [
        "ZEROTH_STORE",
        "ZEROTH_PIN",
        "ZEROTH_OPERATOR",
        "ZEROTH_TRUST",
        "SOFTHSM2_CONF",
    ] {
        assert!(page.contains(var), "zeroth-unseal.1 lacks {var}");
    }
    assert!(page.contains("bao write sys/unseal key=\\-"), "{page}");
    assert!(
        !page.contains(".SH EXTRA"),
        "the examples once, in EXAMPLES"
    );
    let help = fx
        .zeroth()
        .args(["unseal", "--help"])
        .run()
        .ok()
        .stdout_str();
    assert!(
        help.contains("Examples:\n  # Hand the credential"),
        "{help}"
    );
    fx.zeroth()
        .args(["man", "--out-dir", "nowhere"])
        .run()
        .fails(2, &["nowhere is not a directory"]);
}
