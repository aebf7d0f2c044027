//! `sinc exec -- CMD ARGS…`: run one command in the project's remote folder.
//! Each argument is shell-quoted, so it arrives word for word; stdout, stderr
//! and the exit status pass through unchanged.

use super::args::ExecArgs;
use super::context::Context;
use crate::error::Result;
use crate::session::tmux::status;
use crate::transport::quote;

/// The remote script: enter (creating if needed) the folder, then exec.
pub fn script(remote_path: &str, command: &[String]) -> String {
    let dir = quote::remote_path(remote_path);
    quote::sh_script(&format!(
        "cd {dir} 2>/dev/null || {{ mkdir -p {dir} && cd {dir}; }} || exit {}\nexec {}",
        status::NO_FOLDER,
        quote::words(command)
    ))
}

/// Run the command; returns its exit status.
pub async fn run(ctx: &Context, args: &ExecArgs) -> Result<i32> {
    let spec = ctx.spec();
    let link = ctx.link()?;
    let stdin = (!args.no_stdin).then(tokio::io::stdin);
    let status = link
        .run_streaming(&script(&spec.remote_path, &args.command), stdin, tokio::io::stdout(), tokio::io::stderr())
        .await?;
    link.close().await;
    Ok(status.exit_code())
}
