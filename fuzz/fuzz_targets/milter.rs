//! Hostile bytes as a milter conversation: the codec must take any stream apart without a
//! panic, whatever way it is cut into reads, and the session must take any command sequence.
//! Whatever decodes must encode back to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_mail_serve::milter::{Command, Session, Step};

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the read size, so that packets straddle reads in every way.
    let Some((&cut, stream)) = data.split_first() else { return };
    let step = usize::from(cut).max(1);
    let mut session = Session::new(4096, 64);
    let mut buf = Vec::new();
    for chunk in stream.chunks(step) {
        buf.extend_from_slice(chunk);
        loop {
            match Command::decode(&mut buf) {
                Ok(Some(command)) => {
                    let mut wire = Vec::new();
                    command.encode(&mut wire);
                    let again = Command::decode(&mut wire).expect("re-encoded packets decode").expect("whole");
                    assert_eq!(normalise(again), normalise(command.clone()));
                    if session.on(command) == Step::Close {
                        return;
                    }
                    assert!(session.message().len() <= 4096);
                    assert!(session.rcpt.len() <= 64);
                }
                Ok(None) => break,
                Err(_) => return, // the server closes the connection here
            }
        }
    }
});

/// Connect packets carry a port the command does not keep, and lossy UTF-8 strings change
/// once: compare what survives a round trip.
fn normalise(c: Command) -> Command {
    match c {
        Command::Connect { hostname, address } => Command::Connect { hostname, address },
        other => other,
    }
}
