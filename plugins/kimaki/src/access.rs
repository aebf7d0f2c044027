//! Who may drive the sessions: members with the Kimaki role (its name is a
//! setting), the server's owner and its administrators (Administrator or
//! Manage Server) — unless they have the `no-kimaki` role, which blocks
//! anyone, the owner too. Other bots never.

use serde::{Deserialize, Serialize};

/// Discord's ADMINISTRATOR permission.
const ADMINISTRATOR: u64 = 1 << 3;
/// Discord's MANAGE_GUILD permission ("Manage Server").
const MANAGE_GUILD: u64 = 1 << 5;

/// A role of a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its permissions.
    pub permissions: u64,
}

/// What the bot knows of a server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guild {
    /// Its id (also its @everyone role's).
    pub id: String,
    /// Its owner's user id.
    pub owner: String,
    /// Its roles.
    pub roles: Vec<Role>,
}

impl Guild {
    /// A server from Discord's guild object (GUILD_CREATE, GET /guilds/ID).
    pub fn from_json(value: &serde_json::Value) -> Guild {
        let roles = value["roles"].as_array().map(Vec::as_slice).unwrap_or_default();
        Guild {
            id: value["id"].as_str().unwrap_or_default().to_owned(),
            owner: value["owner_id"].as_str().unwrap_or_default().to_owned(),
            roles: roles.iter().filter_map(role_of).collect(),
        }
    }

    /// Keep role `value` (created or updated).
    pub fn set_role(&mut self, value: &serde_json::Value) {
        if let Some(role) = role_of(value) {
            self.roles.retain(|r| r.id != role.id);
            self.roles.push(role);
        }
    }

    /// Forget role `id`.
    pub fn remove_role(&mut self, id: &str) {
        self.roles.retain(|r| r.id != id);
    }

    /// The server-level permissions of a member with `roles`, as Discord
    /// computes them: @everyone's, and each role's.
    fn permissions(&self, roles: &[String]) -> u64 {
        self.roles.iter().filter(|r| r.id == self.id || roles.contains(&r.id)).fold(0, |p, r| p | r.permissions)
    }

    fn has_role(&self, roles: &[String], name: &str) -> bool {
        self.roles.iter().any(|r| roles.contains(&r.id) && r.name.eq_ignore_ascii_case(name))
    }
}

fn role_of(value: &serde_json::Value) -> Option<Role> {
    Some(Role {
        id: value["id"].as_str()?.to_owned(),
        name: value["name"].as_str()?.to_owned(),
        permissions: value["permissions"].as_str().and_then(|p| p.parse().ok()).unwrap_or(0),
    })
}

/// Someone who wrote a message or ran a command.
#[derive(Debug, Clone, Default)]
pub struct Author {
    /// Their user id.
    pub id: String,
    /// Whether they are a bot.
    pub bot: bool,
    /// Their roles' ids.
    pub roles: Vec<String>,
    /// Their permissions in the channel, when Discord said (interactions).
    pub permissions: Option<u64>,
}

/// The role names that decide.
#[derive(Debug, Clone)]
pub struct Policy<'a> {
    /// The role that allows.
    pub role: &'a str,
    /// The role that blocks.
    pub blocked_role: &'a str,
}

/// Whether `author` may drive sessions in `guild`; why not, when not.
pub fn decide(guild: &Guild, author: &Author, policy: &Policy<'_>) -> Result<(), String> {
    if author.bot {
        return Err("bots are not listened to".into());
    }
    if guild.has_role(&author.roles, policy.blocked_role) {
        return Err(format!("you have the `{}` role", policy.blocked_role));
    }
    if author.id == guild.owner {
        return Ok(());
    }
    let permissions = author.permissions.unwrap_or_else(|| guild.permissions(&author.roles));
    if permissions & (ADMINISTRATOR | MANAGE_GUILD) != 0 || guild.has_role(&author.roles, policy.role) {
        return Ok(());
    }
    Err(format!("only members with the `{}` role, administrators and the server owner may do that", policy.role))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn guild() -> Guild {
        Guild::from_json(&json!({
            "id": "1", "owner_id": "100",
            "roles": [
                { "id": "1", "name": "@everyone", "permissions": "1024" },
                { "id": "2", "name": "Kimaki", "permissions": "0" },
                { "id": "3", "name": "no-kimaki", "permissions": "0" },
                { "id": "4", "name": "admins", "permissions": "8" },
                { "id": "5", "name": "mods", "permissions": "32" },
            ],
        }))
    }

    const POLICY: Policy<'static> = Policy { role: "kimaki", blocked_role: "no-kimaki" };

    fn author(id: &str, roles: &[&str]) -> Author {
        Author { id: id.into(), roles: roles.iter().map(|r| r.to_string()).collect(), ..Author::default() }
    }

    #[test]
    fn the_role_the_owner_and_administrators_may() {
        let g = guild();
        assert!(decide(&g, &author("7", &["2"]), &POLICY).is_ok(), "the role, by name, any case");
        assert!(decide(&g, &author("100", &[]), &POLICY).is_ok(), "the owner");
        assert!(decide(&g, &author("8", &["4"]), &POLICY).is_ok(), "Administrator");
        assert!(decide(&g, &author("9", &["5"]), &POLICY).is_ok(), "Manage Server");
        let plain = decide(&g, &author("10", &[]), &POLICY).unwrap_err();
        assert!(plain.contains("`kimaki` role"), "{plain}");
        let with_permissions = Author { permissions: Some(8), ..author("11", &[]) };
        assert!(decide(&g, &with_permissions, &POLICY).is_ok(), "Discord's own answer counts");
    }

    #[test]
    fn no_kimaki_blocks_everyone_and_bots_are_ignored() {
        let g = guild();
        assert!(decide(&g, &author("100", &["3"]), &POLICY).is_err(), "even the owner");
        assert!(decide(&g, &author("7", &["2", "3"]), &POLICY).is_err());
        assert!(decide(&g, &Author { bot: true, ..author("12", &["2"]) }, &POLICY).is_err());
    }

    #[test]
    fn roles_follow_their_updates() {
        let mut g = guild();
        g.set_role(&json!({ "id": "6", "name": "Kimaki", "permissions": "0" }));
        assert!(decide(&g, &author("7", &["6"]), &POLICY).is_ok());
        g.remove_role("6");
        assert!(decide(&g, &author("7", &["6"]), &POLICY).is_err());
    }
}
