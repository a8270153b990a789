//! `app list|info|update|default`: application profiles as ufw shows and
//! applies them (profiles themselves: [`crate::apps`]).

use anyhow::{Result, bail};

use super::{Ctx, UserError, add, install, syntax, wrap};
use crate::{
    apps::{Profiles, valid_name},
    rule::{Action, display::action_word},
    state::StateDir,
};

/// `app ARGS`.
pub(super) fn run(ctx: &Ctx, args: &[String]) -> Result<u8> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["list"] => list(ctx.profiles()),
        ["info", name] => info(ctx.profiles(), name),
        ["update", "--add-new", name] => update(ctx, name, true),
        ["update", name] => update(ctx, name, false),
        ["default", policy] => default(ctx, policy),
        [first, ..] => syntax(Some(first)),
        [] => syntax(None),
    }
}

fn list(p: &Profiles) -> Result<u8> {
    let mut s = String::from("Available applications:");
    for prof in p.iter() {
        s.push_str("\n  ");
        s.push_str(&prof.name);
    }
    outln!("{s}");
    Ok(0)
}

fn info(p: &Profiles, name: &str) -> Result<u8> {
    let names: Vec<String> = if name == "all" {
        p.iter().map(|x| x.name.clone()).collect()
    } else {
        if !valid_name(name) {
            bail!(UserError("Invalid profile name".into()));
        }
        vec![name.to_owned()]
    };
    let mut s = String::new();
    for (i, n) in names.iter().enumerate() {
        // ufw's `app info` wants the exact name.
        let Some(prof) = p.iter().find(|x| &x.name == n) else {
            bail!(UserError(format!("Could not find profile '{n}'")));
        };
        s.push_str(&format!(
            "Profile: {}\nTitle: {}\nDescription: {}\n\n",
            prof.name, prof.title, prof.description
        ));
        s.push_str(if prof.ports.len() > 1 || prof.ports[0].contains(',') {
            "Ports:"
        } else {
            "Port:"
        });
        for port in &prof.ports {
            s.push_str("\n  ");
            s.push_str(port);
        }
        if i + 1 < names.len() {
            s.push_str("\n\n--\n\n");
        }
    }
    outln!("{}", wrap(&s));
    Ok(0)
}

/// `app update [--add-new] NAME|all`: rules naming the profile take its
/// current ports; with `--add-new` and an `app default` other than skip,
/// a rule for the profile is added.
fn update(ctx: &Ctx, name: &str, add_new: bool) -> Result<u8> {
    if add_new && name == "all" {
        bail!(UserError("Cannot specify 'all' with '--add-new'".into()));
    }
    let profiles = ctx.profiles();
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    let old = super::load_state(ctx, &dir)?;
    let mut st = old.clone();
    let targets: Vec<String> = if name == "all" {
        profiles.iter().map(|p| p.name.clone()).collect()
    } else {
        vec![name.to_owned()]
    };
    let mut lines = Vec::new();
    for t in &targets {
        let Some(prof) = profiles.iter().find(|p| &p.name == t) else {
            continue;
        };
        let mut used = false;
        for r in &mut st.rules {
            for app in [&mut r.rule.opts.dapp, &mut r.rule.opts.sapp]
                .into_iter()
                .flatten()
            {
                if &app.name == t {
                    app.legs.clone_from(&prof.legs);
                    used = true;
                }
            }
        }
        if used {
            lines.push(format!("Rules updated for profile '{t}'"));
        }
    }
    if st != old {
        install(ctx, &dir, &old, &st)?;
    }
    drop(dir);
    for l in &lines {
        outln!("{l}");
    }
    if !lines.is_empty() && old.enabled && !ctx.dry_run {
        outln!("Firewall reloaded");
    }
    if add_new && let Some(action) = old.app_policy {
        return add(ctx, action, &[name.to_owned()], None, false);
    }
    Ok(0)
}

fn default(ctx: &Ctx, policy: &str) -> Result<u8> {
    ctx.warn_profiles();
    let p = match policy {
        "allow" => Some(Action::Allow),
        "deny" => Some(Action::Deny),
        "reject" => Some(Action::Reject),
        "skip" => None,
        other => bail!(UserError(format!("Unsupported policy '{other}'"))),
    };
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    let mut st = super::load_state(ctx, &dir)?;
    st.app_policy = p;
    if !ctx.dry_run {
        dir.save(&st)?;
    }
    outln!(
        "Default application policy changed to '{}'",
        p.map_or("skip", action_word)
    );
    Ok(0)
}
