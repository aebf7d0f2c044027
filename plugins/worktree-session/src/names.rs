//! Task names, where their worktrees go, and which branches a task may
//! never use.

/// The words `sinc task` takes as subcommands, which cannot name a task.
pub const RESERVED: [&str; 3] = ["list", "end", "help"];

/// Check a task's name: it names a folder and (after the prefix) a branch,
/// so it is 1 to 64 letters, digits, `.`, `_` or `-`, starting with a
/// letter or digit.
pub fn check_task(name: &str) -> Result<(), String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 64 {
        return Err(format!("`{name}` is not a task name: give 1 to 64 characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) || !name.chars().all(fine) || name.contains("..") {
        return Err(format!(
            "`{name}` is not a task name: use letters, digits, `.`, `_` and `-`, starting with a letter or digit"
        ));
    }
    if name.ends_with(".lock") || name.ends_with('.') {
        return Err(format!("`{name}` is not a task name: it cannot end in `.lock` or `.`"));
    }
    if RESERVED.contains(&name) {
        return Err(format!("`{name}` is a word of `sinc task`; name the task otherwise"));
    }
    Ok(())
}

/// The folder task `name`'s worktree goes in: `worktrees` (absolute, or
/// relative to the folder holding the repository, `{repo}` its name) joined
/// with the task's name.
pub fn worktree_path(repo: &str, worktrees: &str, name: &str) -> String {
    let repo = repo.trim_end_matches('/');
    let (parent, repo_name) = repo.rsplit_once('/').unwrap_or(("", repo));
    let folder = worktrees.replace("{repo}", repo_name);
    let folder = folder.trim_end_matches('/');
    if folder.starts_with('/') { format!("{folder}/{name}") } else { format!("{parent}/{folder}/{name}") }
}

/// The branches a task never uses: `main`, `master`, `init.defaultBranch`,
/// and the branch the remote's HEAD names (`origin/HEAD` → `origin/main`).
pub fn default_branches(init_default: Option<&str>, remote_heads: &[String]) -> Vec<String> {
    let mut out: Vec<String> = vec!["main".into(), "master".into()];
    out.extend(init_default.map(str::trim).filter(|b| !b.is_empty()).map(str::to_owned));
    for head in remote_heads {
        // `refs/remotes/origin/main` or `origin/main`: the branch is
        // what follows the remote's name.
        let short = head.trim().trim_start_matches("refs/remotes/");
        if let Some((_, branch)) = short.split_once('/')
            && !branch.is_empty()
        {
            out.push(branch.to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Refuse `branch` when it is one of `defaults`.
pub fn check_not_default(branch: &str, defaults: &[String]) -> Result<(), String> {
    // Case folded: on a case-insensitive disk `Main` is `main`'s ref.
    if defaults.iter().any(|d| d.eq_ignore_ascii_case(branch)) {
        return Err(format!(
            "`{branch}` is this repository's default branch ({}); a task works on a branch of its own — \
             drop --branch, or name another",
            defaults.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_names_are_plain_words() {
        for good in ["fix-login", "a", "v1.2_x", "Issue42"] {
            assert_eq!(check_task(good), Ok(()), "{good}");
        }
        let long = "a".repeat(65);
        for bad in
            ["", "-f", ".hidden", "a/b", "a b", "$(id)", "a..b", "x.lock", "x.", "list", "end", "ü", long.as_str()]
        {
            assert!(check_task(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn worktrees_go_beside_the_repository_unless_told_otherwise() {
        assert_eq!(worktree_path("/home/u/app", "{repo}.tasks", "fix"), "/home/u/app.tasks/fix");
        assert_eq!(worktree_path("/home/u/app/", "tasks/{repo}", "fix"), "/home/u/tasks/app/fix");
        assert_eq!(worktree_path("/home/u/app", "/srv/wt/{repo}/", "fix"), "/srv/wt/app/fix");
    }

    #[test]
    fn the_default_branch_is_every_name_it_goes_by() {
        let d = default_branches(Some("trunk\n"), &["refs/remotes/origin/develop".into()]);
        assert_eq!(d, ["develop", "main", "master", "trunk"]);
        assert_eq!(default_branches(None, &[]), ["main", "master"]);
        assert!(check_not_default("main", &d).unwrap_err().contains("default branch"));
        assert!(check_not_default("develop", &d).is_err());
        assert!(check_not_default("Main", &d).is_err());
        assert!(check_not_default("sinc/fix", &d).is_ok());
    }
}
