//! Lua scripts called as one `EVALSHA` written straight into one command buffer.
//!
//! redis-rs's `ScriptInvocation` keeps every key and argument in a `Vec` of its own
//! and copies them all into the command when it is sent: about twenty allocations for
//! the limiter's call on every request. [`ScriptCall`] writes them where they are sent
//! from, and loads the script on `NOSCRIPT` as the invocation does (a Redis that
//! restarted, or a cluster node that never saw it).

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisResult, Script, ServerErrorKind, ToRedisArgs};

/// One call of `script`: its keys first ([`ScriptCall::key`]), then its arguments
/// ([`ScriptCall::arg`]); `nkeys` must be the number of keys that will be added.
pub struct ScriptCall<'a> {
    script: &'a Script,
    cmd: Cmd,
}

impl<'a> ScriptCall<'a> {
    /// A call of `script` with `nkeys` keys.
    pub fn new(script: &'a Script, nkeys: usize) -> Self {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash()).arg(nkeys);
        Self { script, cmd }
    }

    /// Adds a key (`KEYS[i]`); every key comes before the first argument.
    pub fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        self.cmd.arg(key);
        self
    }

    /// Adds an argument (`ARGV[i]`).
    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    /// Sends the call; on `NOSCRIPT` loads the script and sends it once more.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        conn: &mut impl ConnectionLike,
    ) -> RedisResult<T> {
        match self.cmd.query_async(conn).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.script.load_async(conn).await?;
                self.cmd.query_async(conn).await
            }
            answer => answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Arg;

    #[test]
    fn the_call_is_evalsha_hash_nkeys_keys_then_args() {
        let script = Script::new("return 1");
        let mut call = ScriptCall::new(&script, 2);
        call.key("k1").key("k2").arg(7u64).arg("x");
        let args: Vec<Vec<u8>> = call
            .cmd
            .args_iter()
            .map(|a| match a {
                Arg::Simple(b) => b.to_vec(),
                _ => b"(not simple)".to_vec(),
            })
            .collect();
        let expected: Vec<&[u8]> = vec![
            b"EVALSHA",
            script.get_hash().as_bytes(),
            b"2",
            b"k1",
            b"k2",
            b"7",
            b"x",
        ];
        assert_eq!(args, expected);
    }
}
