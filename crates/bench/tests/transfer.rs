//! `confab-bench transfer` end to end: the real binary, real sockets on loopback, small sizes
//! (fast in debug builds). No assertion on speed: only that every peer completes, checks the
//! bytes, and reports in the documented shape.

use serde_json::Value;
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_confab-bench"))
        .args(args)
        .output()
        .expect("running confab-bench")
}

/// Runs the bench with `--json` and returns one object per line.
fn bench_json(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["transfer", "--json"];
    all.extend_from_slice(args);
    let out = bench(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{all:?} failed:\n{stdout}\n{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

#[test]
fn every_peer_moves_4_mib_verified_with_the_documented_json_shape() {
    let size = 4 << 20;
    let lines = bench_json(&["--size", "4MiB", "--max-seconds", "30"]);
    let names: Vec<&str> = lines.iter().map(|v| v["peer"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "confab",
            "tcp",
            "tcp-cubic",
            "quic",
            "quic-bbr",
            "kcp",
            "saw"
        ]
    );
    for v in &lines {
        assert_eq!(v["verified"], Value::Bool(true), "{v}");
        assert_eq!(v["complete"], Value::Bool(true), "{v}");
        assert_eq!(v["capped"], Value::Bool(false), "{v}");
        assert_eq!(v["bytes"].as_u64(), Some(size), "{v}");
        assert_eq!(v["size"].as_u64(), Some(size), "{v}");
        assert!(v["error"].is_null(), "{v}");
        let seconds = num(v, "seconds");
        assert!(seconds > 0.0, "{v}");
        let mbit = num(v, "mbit_per_s");
        let expected = size as f64 * 8.0 / seconds / 1e6;
        assert!((mbit - expected).abs() <= expected * 0.01 + 0.01, "{v}");
        assert!((num(v, "mb_per_s") * 8.0 - mbit).abs() < 0.1, "{v}");
        assert!(
            num(v, "cpu_sender_s") >= 0.0 && num(v, "cpu_receiver_s") >= 0.0,
            "{v}"
        );
        assert!(
            num(v, "cpu_sender_s") + num(v, "cpu_receiver_s") > 0.0,
            "{v}"
        );
        assert!(num(v, "confab_speedup") > 0.0, "{v}");
        assert_eq!(v["runs"].as_u64(), Some(1), "{v}");
    }
    assert_eq!(num(&lines[0], "confab_speedup"), 1.0);
    // confab, QUIC and stop-and-wait say what they put on the wire: at least the data
    // itself; TCP and KCP cannot tell.
    for v in &lines {
        let silent = ["tcp", "tcp-cubic", "kcp"].contains(&v["peer"].as_str().unwrap());
        match v["sender_wire_bytes"].as_u64() {
            Some(wire) => assert!(!silent && wire >= size, "{v}"),
            None => assert!(silent, "{v}"),
        }
    }
}

#[test]
fn odd_sizes_and_repeated_runs() {
    // Not a multiple of any chunk or datagram size; three runs, median reported.
    let lines = bench_json(&[
        "--size",
        "100003",
        "--peers",
        "tcp,confab,quic",
        "--runs",
        "3",
    ]);
    assert_eq!(lines.len(), 3);
    for v in &lines {
        assert_eq!(v["verified"], Value::Bool(true), "{v}");
        assert_eq!(v["bytes"].as_u64(), Some(100_003), "{v}");
        assert_eq!(v["runs"].as_u64(), Some(3), "{v}");
        assert_eq!(v["runs_mbit_per_s"].as_array().unwrap().len(), 3, "{v}");
    }
}

#[test]
fn an_empty_file_moves_too() {
    let lines = bench_json(&["--size", "0", "--peers", "confab,tcp,quic"]);
    for v in &lines {
        assert_eq!(v["verified"], Value::Bool(true), "{v}");
        assert_eq!(v["bytes"].as_u64(), Some(0), "{v}");
    }
}

#[test]
fn stop_and_wait_is_cut_by_the_time_cap_and_reports_what_arrived() {
    let lines = bench_json(&["--size", "1GiB", "--peers", "saw", "--max-seconds", "0.5"]);
    let v = &lines[0];
    assert_eq!(v["capped"], Value::Bool(true), "{v}");
    assert_eq!(v["complete"], Value::Bool(false), "{v}");
    assert_eq!(v["verified"], Value::Bool(true), "{v}");
    let bytes = v["bytes"].as_u64().unwrap();
    assert!(bytes > 0 && bytes < 1 << 30, "{v}");
    // Measured from the sender's start, which comes after the receiver's cap started.
    assert!(num(v, "seconds") > 0.0 && num(v, "seconds") < 30.0, "{v}");
}

#[test]
fn the_table_names_every_peer() {
    let out = bench(&["transfer", "--size", "256KiB", "--peers", "tcp,confab"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let rows: Vec<&str> = stdout.lines().collect();
    assert!(
        rows[1].starts_with("peer") && rows[1].contains("Mbit/s"),
        "{stdout}"
    );
    assert!(
        rows[2].starts_with("tcp") && rows[2].contains("yes"),
        "{stdout}"
    );
    assert!(
        rows[3].starts_with("confab") && rows[3].contains("1.00"),
        "{stdout}"
    );
}

#[test]
fn bad_arguments_are_refused_with_a_hint() {
    let out = bench(&["transfer", "--size", "12XB"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("e.g. 1GiB"));
    let out = bench(&["transfer", "--peers", "tcp,smoke-signals"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("smoke-signals"));
    let out = bench(&["transfer", "--runs", "0"]);
    assert_eq!(out.status.code(), Some(2));
}
