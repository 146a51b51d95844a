//! `brisk migrate`: creates the database if missing and runs embedded migrations.
//! (Placeholder: the seed/migrate work item replaces this.)

use crate::config::MigrateArgs;

pub fn run_cli(_args: &MigrateArgs) -> Result<(), String> {
    Err("migrate is not built yet".into())
}
