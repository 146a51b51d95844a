//! Lua scripts called as one `EVALSHA` written straight into one command buffer.
//!
//! redis-rs's `ScriptInvocation` keeps every key and argument in a `Vec` of its own
//! and copies them all into the command when it is sent: about twenty allocations for
//! the limiter's call on every request. [`ScriptCall`] writes them where they are sent
//! from. On `NOSCRIPT` (a Redis that restarted, or a cluster node that never saw the
//! script: Redis 7 does not copy a master's script cache to its replicas, so a
//! replica promoted by a failover has none) it sends the same call once as `EVAL`
//! with the script's source, which runs it and caches it on the node that answered.
//!
//! Not `SCRIPT LOAD` as redis-rs's invocation does: on a Redis Cluster redis-rs sends
//! `SCRIPT LOAD` to every node of its slot map and fails unless all answer, and after
//! a failover that map still holds the dead master (the promoted node answers without
//! a `MOVED`, so nothing refreshes it): every call on the promoted node failed until
//! the process restarted. `EVAL` is routed by its first key, as `EVALSHA` is.

use redis::aio::ConnectionLike;
use redis::{
    Arg, Cmd, ErrorKind, FromRedisValue, RedisResult, Script, ServerErrorKind, ToRedisArgs,
};

/// A Lua script: its source (sent by `EVAL` when a node lacks it) and its SHA1 (sent
/// by `EVALSHA`).
#[derive(Debug, Clone)]
pub struct LuaScript {
    code: String,
    script: Script,
}

impl LuaScript {
    /// The script of source `code`.
    pub fn new(code: &str) -> Self {
        Self {
            code: code.to_string(),
            script: Script::new(code),
        }
    }

    /// Its SHA1, as `EVALSHA` names it.
    pub fn hash(&self) -> &str {
        self.script.get_hash()
    }
}

/// One call of `script`: its keys first ([`ScriptCall::key`]), then its arguments
/// ([`ScriptCall::arg`]); `nkeys` must be the number of keys that will be added.
pub struct ScriptCall<'a> {
    script: &'a LuaScript,
    cmd: Cmd,
}

impl<'a> ScriptCall<'a> {
    /// A call of `script` with `nkeys` keys.
    pub fn new(script: &'a LuaScript, nkeys: usize) -> Self {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.hash()).arg(nkeys);
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

    /// Sends the call; on `NOSCRIPT` sends it once more as `EVAL` (which caches the
    /// script on that node).
    pub async fn invoke<T: FromRedisValue>(
        &self,
        conn: &mut impl ConnectionLike,
    ) -> RedisResult<T> {
        match self.cmd.query_async(conn).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.eval().query_async(conn).await
            }
            answer => answer,
        }
    }

    /// The same call as `EVAL source nkeys keys... args...`.
    fn eval(&self) -> Cmd {
        let mut eval = redis::cmd("EVAL");
        eval.arg(self.script.code.as_bytes());
        // After EVALSHA and the hash: nkeys, the keys, the arguments.
        for arg in self.cmd.args_iter().skip(2) {
            if let Arg::Simple(bytes) = arg {
                eval.arg(bytes);
            }
        }
        eval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(cmd: &Cmd) -> Vec<Vec<u8>> {
        cmd.args_iter()
            .map(|a| match a {
                Arg::Simple(b) => b.to_vec(),
                _ => b"(not simple)".to_vec(),
            })
            .collect()
    }

    fn call(script: &LuaScript) -> ScriptCall<'_> {
        let mut call = ScriptCall::new(script, 2);
        call.key("k1").key("k2").arg(7u64).arg("x");
        call
    }

    #[test]
    fn the_call_is_evalsha_hash_nkeys_keys_then_args() {
        let script = LuaScript::new("return 1");
        let expected: Vec<&[u8]> = vec![
            b"EVALSHA",
            script.hash().as_bytes(),
            b"2",
            b"k1",
            b"k2",
            b"7",
            b"x",
        ];
        assert_eq!(words(&call(&script).cmd), expected);
    }

    #[test]
    fn on_noscript_the_same_call_goes_as_eval_with_the_source() {
        let script = LuaScript::new("return 1");
        let expected: Vec<&[u8]> = vec![b"EVAL", b"return 1", b"2", b"k1", b"k2", b"7", b"x"];
        assert_eq!(words(&call(&script).eval()), expected);
    }
}
