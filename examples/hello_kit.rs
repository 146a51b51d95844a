//! A whole application on brisk's kit, importing nothing but `brisk::kit`: its own
//! table, a cached view (`GET /greet/{lang}`: warmed, limited to 3 per minute per
//! client), and a memoized call (`GET /languages`), served with metrics, limits and
//! warming. `cargo run --example hello_kit -- 127.0.0.1:8081 <database URL> <redis prefix>`

use brisk::kit::actix_web::{rt::System, web, HttpRequest, HttpResponse};
use brisk::kit::diesel::{
    dsl::sql,
    select,
    sql_types::{Nullable, Text},
};
use brisk::kit::diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use brisk::kit::{parse_route_rule, respond_cached, serde_json::json, serve, ApiError, Bytes};
use brisk::kit::{Cache, DbPool, KitConfig, Mount, Precompressed, Scope, ViewKey, WarmConfig};
use std::time::Duration;

const TABLE: &str = "CREATE TABLE IF NOT EXISTS hello_greetings (lang text PRIMARY KEY, text text);
    INSERT INTO hello_greetings VALUES ('en', 'hello'), ('fr', 'bonjour') ON CONFLICT DO NOTHING";
const TTL: Duration = Duration::from_secs(60);

/// The text a scalar subquery yields, or none.
async fn text(db: &DbPool, query: String) -> Result<Option<String>, ApiError> {
    db.read(|c| {
        let q = query.clone();
        Box::pin(async move {
            Ok(select(sql::<Nullable<Text>>(&format!("({q})")))
                .get_result(c)
                .await?)
        })
    })
    .await
    .map_err(ApiError::internal)
}

/// The greeting in `lang`, as the JSON the cache stores.
async fn greeting(db: DbPool, lang: String) -> Result<Bytes, ApiError> {
    let q = format!(
        "SELECT text FROM hello_greetings WHERE lang = '{}'",
        lang.replace('\'', "''")
    );
    let found = text(&db, q)
        .await?
        .ok_or_else(|| ApiError::not_found("no such language"))?;
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
    let scope = Scope::Public;
    let key = ViewKey {
        namespace: "greet",
        route: "/greet/{lang}",
        query: &lang,
        only: None,
        scope,
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
    let q = "SELECT string_agg(lang, ',' ORDER BY lang) FROM hello_greetings";
    let all = move || async move { text(&db, q.to_string()).await };
    let memo = cache
        .memoize("languages", &(), Scope::Public, TTL, all)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(memo.json))
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut config = KitConfig::default();
    let bind = args.next().unwrap_or("127.0.0.1:8081".into());
    config.server.bind = bind.parse().map_err(|e| format!("{bind}: {e}"))?;
    config.db.url = args.next().unwrap_or(config.db.url);
    config.redis.prefix = args.next().unwrap_or("hello".into());
    config.warm = Some(WarmConfig::default());
    config
        .ratelimit
        .routes
        .push(parse_route_rule("GET /greet/{lang} = 3 per minute by ip")?);
    let created = System::new().block_on(async {
        let pool = DbPool::build(&config.db);
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        conn.batch_execute(TABLE).await.map_err(|e| e.to_string())
    });
    created.map_err(|e| format!("creating hello_greetings: {e}"))?;
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
        })
    })
}
