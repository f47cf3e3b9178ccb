// SPDX-License-Identifier: MIT
// rustleak.rs — test_rust_demangle.py: a Rust program built with rustc's v0 symbol mangling
// (-C symbol-mangling-version=v0) that leaks from a generic method and from a HashMap, and
// writes Rust's own backtrace of the first leaking call (std's demangler, rustc-demangle's
// alternate form) to the file named by its first argument: the oracle for the report's names.
use std::collections::HashMap;
use std::hint::black_box;
use std::io::Write;

pub struct Cache<T> {
    items: Vec<T>,
}

impl<T: Clone> Cache<T> {
    #[inline(never)]
    pub fn remember(&mut self, v: T, oracle: &str) -> &T {
        if self.items.is_empty() {
            let bt = std::backtrace::Backtrace::force_capture();
            let mut f = std::fs::File::create(oracle).expect("oracle file");
            write!(f, "{}", bt).expect("oracle write");
        }
        self.items.push(v); /* LEAK:rust_remember */
        self.items.last().unwrap()
    }
}

#[inline(never)]
fn make_table(n: usize) -> HashMap<u64, String> {
    let mut m = HashMap::new();
    for i in 0..n as u64 {
        m.insert(i, format!("value {}", i));
    }
    m
}

fn main() {
    let oracle = std::env::args().nth(1).expect("usage: rustleak ORACLE_FILE");
    let mut c: Cache<Vec<u8>> = Cache { items: Vec::new() };
    for i in 0..100u8 {
        black_box(c.remember(vec![i; 64], &oracle));
    }
    let t = make_table(50);
    std::mem::forget(c);
    std::mem::forget(t);
}
