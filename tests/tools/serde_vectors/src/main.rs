//! Reads one test case per stdin line and prints, per case, serde_json's
//! rendering of it as a JSON string literal (so any output survives a line).
//!
//! Cases:
//!   `f <16 hex digits>`   an f64 by its bits, rendered as `Value::from(f64)`
//!   `s <hex of utf-8>`    a string, rendered as `Value::String`
//!   `j <json text>`       parsed into a `Value` (preserve_order) and rendered
//!   `m <json object>`     parsed into a `BTreeMap<String, Value>` and rendered
//!                         as Harn's `print_tree` renders span metadata
use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

use serde_json::Value;

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex byte"))
        .collect()
}

fn render(line: &str) -> String {
    let (tag, arg) = line.split_at(2);
    match tag {
        "f " => Value::from(f64::from_bits(u64::from_str_radix(arg, 16).expect("bits"))).to_string(),
        "s " => Value::String(String::from_utf8(hex_bytes(arg)).expect("utf-8")).to_string(),
        "j " => serde_json::from_str::<Value>(arg).expect("json").to_string(),
        "m " => {
            let metadata: BTreeMap<String, Value> = serde_json::from_str(arg).expect("object");
            let parts: Vec<String> = metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(" ({})", parts.join(", "))
        }
        _ => panic!("unknown case {line:?}"),
    }
}

fn main() {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for line in io::stdin().lock().lines() {
        let line = line.expect("stdin");
        writeln!(out, "{}", Value::String(render(&line))).expect("stdout");
    }
}
