//! What `sinc` does after a local plugin's subcommand asked for more
//! (`invocation.then`): open, start or end the session of a folder, as the
//! same command run in that folder would.

use super::context::Context;
use crate::error::{Error, Result};
use crate::plugins::invocation::FollowUp;

/// Do `next`; the exit status.
pub async fn run(ctx: &Context, next: FollowUp) -> Result<i32> {
    use std::io::IsTerminal;
    let folder = next.folder();
    if !folder.is_absolute() || !folder.is_dir() {
        return Err(Error::Failure(format!(
            "the plugin asked to go on in {}, which is not an absolute path to a folder",
            folder.display()
        )));
    }
    // A project is a folder of its own: never the home folder or one
    // above it (its session would sync all of it).
    if ctx.dirs.home.starts_with(folder) {
        return Err(Error::Failure(format!(
            "the plugin asked to open a session for {}, which holds the home folder; refused",
            folder.display()
        )));
    }
    let there = Context::load_in(&ctx.global, folder)?;
    match next {
        FollowUp::Open(_) if std::io::stdin().is_terminal() => super::launch::run(&there, false).await,
        FollowUp::Open(_) | FollowUp::Start(_) => super::start::run(&there, &super::args::StartArgs::default()).await,
        FollowUp::End(_) => super::list::end_project(&there).await,
    }
}
