//! The order API's own settings (beyond the kit's).
//!
//! Environment: `BRISK_MAX_CONCURRENT_EXPORTS`.

use crate::app::export::DEFAULT_MAX_CONCURRENT;
use crate::order_api::OrderApiConfig;
use crate::routes::CursorKey;
use clap::Args;

/// The order API's flags.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// CSV exports running at once in this process; more get 429 with Retry-After.
    #[arg(long, env = "BRISK_MAX_CONCURRENT_EXPORTS", default_value_t = DEFAULT_MAX_CONCURRENT, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=10_000), usize::from))]
    pub max_concurrent_exports: usize,
}

impl ApiArgs {
    /// The order API's settings: cursors signed with `secret` (`--secret`), the
    /// export cap.
    pub fn order_api_config(&self, secret: &str) -> OrderApiConfig {
        OrderApiConfig {
            cursor_key: CursorKey(secret.as_bytes().into()),
            max_concurrent_exports: self.max_concurrent_exports,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ServeArgs;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[test]
    fn the_export_cap_defaults_to_four_and_refuses_zero() {
        let parse = |argv: &[&str]| {
            Wrapper::try_parse_from(std::iter::once("brisk").chain(argv.iter().copied()))
        };
        let config = parse(&[]).unwrap().args.order_api_config();
        assert_eq!(config.max_concurrent_exports, 4);
        let config = parse(&["--max-concurrent-exports", "100"])
            .unwrap()
            .args
            .order_api_config();
        assert_eq!(config.max_concurrent_exports, 100);
        assert!(parse(&["--max-concurrent-exports", "0"]).is_err());
    }
}
