//! `brisk check-budget`. (Placeholder: the seed/migrate work item replaces this.)

use crate::config::{DatabaseArgs, ServeArgs};

pub fn check(_db: &DatabaseArgs) -> Result<String, String> {
    Ok("connection budget not checked yet".into())
}

pub fn run_cli(_args: &ServeArgs) -> Result<(), String> {
    Err("check-budget is not built yet".into())
}
