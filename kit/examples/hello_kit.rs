//! A whole application on brisk's kit: its own table, a cached view (`GET
//! /greet/{lang}`: warmed, limited to 3 per minute per client), a memoized call
//! (`GET /languages`), and a protected route (`GET /private/whoami`: an API key, its
//! caller on the plan `hobby`, 2 requests per minute), served with metrics, limits and
//! warming. Everything brisk comes from `brisk_kit`; the table is declared with
//! Diesel's `table!`; the plan, the route limit and the protected prefix are this
//! application's own (the kit's defaults name none).
//! `cargo run --example hello_kit -- 127.0.0.1:8081 <database URL> <redis prefix>`

use brisk_kit::actix_web::{rt::System, web, HttpRequest, HttpResponse};
use brisk_kit::diesel::{OptionalExtension, QueryDsl};
use brisk_kit::diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use brisk_kit::{parse_limits, AuthContext, AuthError, Authenticate, Caller, PlanName};
use brisk_kit::{parse_route_rule, respond_cached, serde_json::json, serve, ApiError, Bytes};
use brisk_kit::{Cache, DbPool, KitConfig, Mount, Precompressed, Scope, ViewKey, WarmConfig};
use futures_util::future::BoxFuture;
use std::time::Duration;

diesel::table! {
    hello_greetings (lang) {
        lang -> Text,
        text -> Text,
    }
}
use hello_greetings::dsl::{hello_greetings as greetings, lang as lang_col, text};

const TABLE: &str =
    "CREATE TABLE IF NOT EXISTS hello_greetings (lang text PRIMARY KEY, text text NOT NULL);
    INSERT INTO hello_greetings VALUES ('en', 'hello'), ('fr', 'bonjour') ON CONFLICT DO NOTHING";
const TTL: Duration = Duration::from_secs(60);

/// The greeting in `lang`, as the JSON the cache stores (the warmer's recipe too).
async fn greeting(db: DbPool, lang: String) -> Result<Bytes, ApiError> {
    let key = lang.clone();
    let found: Option<String> = db
        .read(move |c| {
            let query = greetings.find(key.clone()).select(text);
            Box::pin(async move { Ok(query.first(c).await.optional()?) })
        })
        .await
        .map_err(ApiError::internal)?;
    let found = found.ok_or_else(|| ApiError::not_found("no such language"))?;
    Ok(json!({ "lang": lang, "greeting": found })
        .to_string()
        .into())
}

async fn greet(
    (cache, db, variants): (
        web::Data<Cache>,
        web::Data<DbPool>,
        web::Data<Precompressed>,
    ),
    lang: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (db, lang) = (db.get_ref().clone(), lang.into_inner());
    let key = ViewKey {
        namespace: "greet",
        route: "/greet/{lang}",
        query: &lang,
        only: None,
        scope: Scope::Public,
    };
    let owned = lang.clone();
    let body = cache
        .view(key, TTL, None, move || greeting(db, owned))
        .await?;
    Ok(respond_cached(
        &req,
        &variants,
        body,
        Some("public, max-age=60"),
    ))
}

async fn languages(
    cache: web::Data<Cache>,
    db: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let db = db.get_ref().clone();
    let all = move || async move {
        let langs: Vec<String> = db
            .read(|c| {
                Box::pin(
                    async move { Ok(greetings.select(lang_col).order(lang_col).load(c).await?) },
                )
            })
            .await
            .map_err(ApiError::internal)?;
        Ok::<_, ApiError>(langs.join(","))
    };
    let memo = cache
        .memoize("languages", &(), Scope::Public, TTL, all)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(memo.json))
}

/// This application's one plan.
const HOBBY: PlanName = PlanName("hobby");
/// Routes under this prefix need an API key.
const PRIVATE: &str = "/private/";
/// The demo's only key. A real application stores keys as hashes (the order API does).
const DEMO_KEY: &[u8] = b"hello-demo-key";

/// Accepts the demo key as tenant 1 on the hobby plan.
struct DemoKeys;

impl Authenticate for DemoKeys {
    fn authenticate<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<AuthContext, AuthError>> {
        // Compared without an early exit, so the time taken does not tell how much matched.
        let same = key.len() == DEMO_KEY.len()
            && key
                .bytes()
                .zip(DEMO_KEY)
                .fold(0, |acc, (a, b)| acc | (a ^ b))
                == 0;
        Box::pin(async move {
            match same {
                true => Ok(AuthContext {
                    tenant_id: 1,
                    plan: HOBBY,
                    key_id: 1,
                    user_id: None,
                }),
                false => Err(AuthError::Rejected),
            }
        })
    }
}

/// `GET /private/whoami`: the caller the kit resolved.
async fn whoami(caller: Caller) -> HttpResponse {
    let auth = caller.0;
    HttpResponse::Ok().json(json!({ "tenant_id": auth.tenant_id, "plan": auth.plan }))
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut config = KitConfig::default();
    let bind = args.next().unwrap_or("127.0.0.1:8081".into());
    config.server.bind = bind.parse().map_err(|e| format!("{bind}: {e}"))?;
    config.db.url = args.next().unwrap_or(config.db.url);
    config.redis.prefix = args.next().unwrap_or("hello".into());
    config.warm = Some(WarmConfig::default());
    config.ratelimit = config.ratelimit.with_plan(
        HOBBY,
        parse_limits("2 per minute").map_err(|e| e.to_string())?,
    );
    config
        .ratelimit
        .routes
        .push(parse_route_rule("GET /greet/{lang} = 3 per minute by ip")?);
    System::new()
        .block_on(async {
            DbPool::build(&config.db)
                .get()
                .await?
                .batch_execute(TABLE)
                .await
                .map_err(Into::into)
        })
        .map_err(|e: Box<dyn std::error::Error>| format!("creating hello_greetings: {e}"))?;
    serve(config, |services| {
        let (cache, db) = (services.cache.clone(), services.db.clone());
        let recipe_db = db.clone();
        cache.register_view("greet", "/greet/{lang}", TTL, move |_, lang| {
            greeting(recipe_db.clone(), lang)
        });
        Mount::new(move |cfg| {
            cfg.app_data(web::Data::new(cache.clone()))
                .app_data(web::Data::new(db.clone()));
            cfg.route("/greet/{lang}", web::get().to(greet));
            cfg.route("/languages", web::get().to(languages));
            cfg.route("/private/whoami", web::get().to(whoami));
        })
        .protect(PRIVATE, &[], DemoKeys)
    })
}
