//! `brisk check-budget`. (Placeholder: the seed/migrate work item replaces this.)

use crate::config::ServeArgs;

pub fn run_cli(_args: &ServeArgs) -> Result<(), String> {
    Err("check-budget is not built yet".into())
}
