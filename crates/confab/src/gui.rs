//! `confab gui`: opens the desktop client (the `gui` crate) with the shared flags.

use anyhow::{Result, anyhow};

use crate::Global;

pub(crate) fn run(global: &Global, connect: bool) -> Result<()> {
    // `--server` always has a value (its default). Only an address other than the default
    // counts as chosen, so that without the flag the last session's server is prefilled.
    let server = (global.server != gui::DEFAULT_SERVER).then(|| global.server.clone());
    let launch = gui::Launch {
        server,
        nick: global.nick.clone(),
        connect,
        saved_login: gui::saved::default_path(),
    };
    gui::run(launch).map_err(|err| {
        anyhow!(
            "cannot open the window: {err} — `confab gui` needs a graphical desktop (X11 or \
             XWayland); in a terminal use `confab chat`"
        )
    })
}
