//! `brisk seed`. (Placeholder: the seed/migrate work item replaces this.)

use crate::config::SeedArgs;

pub fn run_cli(_args: &SeedArgs) -> Result<(), String> {
    Err("seed is not built yet".into())
}
