//! `builtin [NAME allow|deny|off]`: switches ufw's built-in rules that
//! operators edit in before.rules/before6.rules (`fw_common::builtins::
//! Switch`): `ping` and `ping6` (the host's own echo requests), `dhcp` and
//! `dhcp6` (answers to the host's DHCP client). `deny` is ufw's ACCEPT
//! turned into DROP (dropped before the user's rules, not logged), `off`
//! the line removed (the packet meets the user's rules and the default
//! policy), `allow` ufw's line. Without arguments: the settings.

use anyhow::{Result, bail};
use fw_common::builtins::{Setting, Switch};

use super::{Ctx, UserError, load_state, open_live};
use crate::state::StateDir;

/// The names and settings, for error messages.
fn usage() -> String {
    let names: Vec<_> = Switch::ALL.iter().map(|s| s.name()).collect();
    format!("fw-ctl builtin {} allow|deny|off", names.join("|"))
}

/// `builtin ...`.
pub(super) fn run(ctx: &Ctx, args: &[String]) -> Result<u8> {
    let dir = StateDir::open_locked(&ctx.state_dir)?;
    let mut st = load_state(ctx, &dir)?;
    let (name, word) = match args {
        [] => {
            ctx.warn_profiles();
            for s in Switch::ALL {
                outln!("{:<6} {:<5} {}", s.name(), st.builtin(s).word(), s.what());
            }
            return Ok(0);
        }
        [n, w] => (n.as_str(), w.as_str()),
        [n] if Switch::from_name(n).is_none() => (n.as_str(), ""),
        [n] => bail!(UserError(format!(
            "a setting for '{n}' is missing ({})",
            usage()
        ))),
        [_, _, extra, ..] => bail!(UserError(format!(
            "Invalid syntax near '{extra}' ({})",
            usage()
        ))),
    };
    let Some(switch) = Switch::from_name(name) else {
        bail!(UserError(format!(
            "no switchable built-in rule '{name}' ({})",
            usage()
        )));
    };
    let Some(setting) = Setting::from_word(word) else {
        bail!(UserError(format!(
            "bad setting '{word}' for built-in rule '{name}' (allow, deny or off)"
        )));
    };
    ctx.warn_profiles();
    if !st.tracking.enabled {
        eprintln!(
            "WARN: CONNTRACK=no: no built-in rule applies in stateless mode; the setting \
             takes effect with CONNTRACK=yes"
        );
    }
    st.builtins[switch as usize] = setting;
    if !ctx.dry_run {
        dir.save(&st)?;
        // Live at once when the filter is enabled.
        if let Some(mut dp) = open_live(ctx, &st)? {
            dp.set_builtins(st.builtins_word())?;
        }
    }
    outln!(
        "Built-in rule '{}' ({}) set to '{}'",
        switch.name(),
        switch.what(),
        setting.word()
    );
    Ok(0)
}
