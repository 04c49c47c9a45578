//! Decides one chunk of 100 messages of a corpus whenever told its number on stdin, and prints
//! the seconds it took. First prints the number of chunks and of messages. With `--explained`,
//! each decision is explained as the server explains it (its reasons rebuilt from the message).
//!
//! Two builds (say, with and without some compiler flag) cannot be compared in one process;
//! driven in turn, chunk by chunk, by `bench/ab-builds.py`, they share every phase of a noisy
//! machine as two engines in one process would.
use std::io::{BufRead, Write};

mod common;

fn main() {
    let corpus = std::env::args().nth(1).expect("usage: decide_chunks CORPUS [--explained]");
    let explained = std::env::args().nth(2).is_some_and(|a| a == "--explained");
    let msgs = common::messages(&corpus);
    let engine = common::starter_engine();
    let chunks: Vec<&[Vec<u8>]> = msgs.chunks(100).collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} {}", chunks.len(), msgs.len()).unwrap();
    out.flush().unwrap();
    // Anything but a chunk number (end of input, "q") ends the run.
    for line in std::io::stdin().lock().lines() {
        let Some(chunk) = line.ok().and_then(|l| l.trim().parse::<usize>().ok()).and_then(|k| chunks.get(k))
        else {
            break;
        };
        let t = std::time::Instant::now();
        for m in *chunk {
            if explained {
                std::hint::black_box(engine.decide_explained(m));
            } else {
                std::hint::black_box(engine.decide(m));
            }
        }
        writeln!(out, "{}", t.elapsed().as_secs_f64()).unwrap();
        out.flush().unwrap();
    }
}
