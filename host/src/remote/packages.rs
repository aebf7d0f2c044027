//! The VPS's package manager: which one it has, and the command that
//! installs a package with it (shown in messages; `sinc doctor` prints it as
//! the fix for a missing tmux or git).

use crate::transport::quote;

/// Shell that prints the first package manager found (or `unknown`).
pub const PROBE: &str = "for pm in apt-get dnf yum apk pacman zypper brew; do if command -v $pm >/dev/null 2>&1; then echo $pm; exit 0; fi; done; echo unknown";

/// The command that installs `package` with package manager `pm`.
pub fn install_command(pm: &str, package: &str) -> String {
    let p = quote::word(package);
    match pm {
        "apt-get" => format!("sudo apt-get install -y {p}"),
        "dnf" => format!("sudo dnf install -y {p}"),
        "yum" => format!("sudo yum install -y {p}"),
        "apk" => format!("sudo apk add {p}"),
        "pacman" => format!("sudo pacman -S --noconfirm {p}"),
        "zypper" => format!("sudo zypper install -y {p}"),
        "brew" => format!("brew install {p}"),
        _ => format!("your package manager (e.g. `sudo apt-get install {p}`)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_command_for_each_manager() {
        assert_eq!(install_command("apk", "tmux"), "sudo apk add tmux");
        assert_eq!(install_command("dnf", "git"), "sudo dnf install -y git");
        assert!(install_command("unknown", "tmux").contains("apt-get install tmux"));
    }
}
