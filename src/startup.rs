//! Builds pools, clients and actors once per process, then binds the server.
//! (Placeholder until the foundation lands.)

use crate::config::ServeArgs;

pub fn serve(_args: ServeArgs) -> Result<(), String> {
    Err("serve is not built yet".into())
}
