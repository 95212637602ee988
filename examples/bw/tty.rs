//! The caller's terminal for `bw run -it` / `bw attach`: raw mode while attached (restored on
//! drop), and its size for the container's terminal.

use std::io::IsTerminal;

use rustix::termios::{tcgetattr, tcgetwinsize, tcsetattr, OptionalActions, Termios};

/// Our stdin in raw mode until dropped (`None` when stdin is not a terminal).
pub(crate) struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts stdin in raw mode when it is a terminal.
    pub(crate) fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// Our terminal's size (rows, columns), from stdout or stdin.
pub(crate) fn size() -> Option<(u16, u16)> {
    let size = tcgetwinsize(std::io::stdout())
        .or_else(|_| tcgetwinsize(std::io::stdin()))
        .ok()?;
    (size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
}
