//! Live interoperability with Python's `cryptography` Fernet, both directions.
//!
//! Needs a Python with `cryptography`: `FIDO_PYTHON`, else the workspace's `.venv` that
//! `make test` creates. Without one the test is skipped locally and fails under `CI=true`.

use std::path::PathBuf;
use std::process::Command;

use fido_cipher_fernet::FernetCipher;

fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("FIDO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    let ok = Command::new(&candidate)
        .args(["-c", "import cryptography.fernet"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(candidate);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but no Python with `cryptography` at {candidate:?}: run `make test`"
    );
    eprintln!("skipping: no Python with `cryptography` at {candidate:?} (run `make test`)");
    None
}

fn run_python(python: &PathBuf, script: &str, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("python prints UTF-8")
        .trim_end_matches('\n')
        .to_owned()
}

#[test]
fn python_decrypts_rust_tokens() {
    let Some(py) = python() else { return };
    let key = FernetCipher::generate_key();
    let cipher = FernetCipher::from_key_list(&key).unwrap();
    let name = "Zoë Ñúñez — 李小龍";
    let token = cipher.encrypt_str(name);
    let script = "import sys; from cryptography.fernet import Fernet; \
                  sys.stdout.buffer.write(Fernet(sys.argv[1]).decrypt(sys.argv[2].encode()) + b'\\n')";
    assert_eq!(run_python(&py, script, &[&key, &token]), name);
}

#[test]
fn rust_decrypts_python_tokens_including_multifernet_rotation() {
    let Some(py) = python() else { return };
    let old = FernetCipher::generate_key();
    let new = FernetCipher::generate_key();
    let script = "import sys; from cryptography.fernet import Fernet, MultiFernet; \
                  print(MultiFernet([Fernet(k) for k in sys.argv[1].split(',')]).encrypt(sys.argv[2].encode()).decode())";
    let token = run_python(&py, script, &[&old, "Ada Lovelace"]);
    let rotated = FernetCipher::from_key_list(&format!("{new},{old}")).unwrap();
    assert_eq!(rotated.decrypt_str(&token).unwrap(), "Ada Lovelace");
}
