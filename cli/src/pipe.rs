//! Writing to stdout and stderr without panicking when the reader has gone
//! (`ats list | head`): the `println!` and `eprintln!` of this crate.

use std::io::{ErrorKind, Write};

/// Writes to stdout; a closed pipe ends the process with success.
pub fn out(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        closed(&e);
    }
}

/// Writes to stderr, ignoring failures (there is nowhere left to report them).
pub fn err(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

fn closed(e: &std::io::Error) {
    if e.kind() == ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
}

/// Stdout as a writer for generated text (completions, the manual page),
/// with the same closed-pipe rule.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().write(buf).inspect_err(closed)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush().inspect_err(closed)
    }
}
