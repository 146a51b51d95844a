//! The "indexes" row's evidence: the database's top statements by total time from
//! `pg_stat_statements`, each planned the way PostgreSQL plans it for any argument
//! (PostgreSQL 15 has no `EXPLAIN (GENERIC_PLAN)`, so: `SET plan_cache_mode =
//! force_generic_plan; PREPARE …; EXPLAIN (FORMAT JSON) EXECUTE …(NULL, …)`, which
//! plans without running), and the sequential scans with a filter in those plans.
//!
//! The extension is created here, by the doctor's direct connection, when the library
//! is preloaded and the database lacks it: `CREATE EXTENSION pg_stat_statements` needs
//! a superuser (it is not a trusted extension), which the application's role, the one
//! the migrations run as, need not be. The statistics are the whole cluster's; the view
//! is read for this database's `dbid` only.

use serde_json::Value;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// A sequential scan that filters, in a statement's generic plan.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqScan {
    /// The table (`schema.table`).
    pub table: String,
    /// Its rows (`pg_class.reltuples`; from its size when never analyzed).
    pub table_rows: f64,
    /// The rows the planner expects the filter to keep.
    pub kept_rows: f64,
}

/// One of the top statements.
#[derive(Debug, Clone, PartialEq)]
pub struct TopStatement {
    /// The normalized text (`$1` for every constant).
    pub query: String,
    /// Times run.
    pub calls: i64,
    /// Total execution time, milliseconds.
    pub total_ms: f64,
    /// Its generic plan's filtering sequential scans, or why it could not be planned.
    pub scans: Result<Vec<SeqScan>, String>,
}

/// The statements of this database that are worth planning: plannable kinds only,
/// not the catalog reads of tools (nor the doctor's own).
const TOP: &str = "SELECT query, calls::text, total_exec_time::text FROM pg_stat_statements
   WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND toplevel
     AND query ~* '^\\s*(select|with|update|delete|insert)\\M'
     AND query !~* '(pg_catalog|pg_stat|information_schema|pg_class|pg_extension|pg_database)'
   ORDER BY total_exec_time DESC LIMIT ";

/// The top `limit` statements of the database at `url`, planned; `Err` says why they
/// cannot be had (not preloaded, no privilege to create the extension, no connection).
pub async fn top(url: &str, limit: usize) -> Result<Vec<TopStatement>, String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("PostgreSQL: {e}"))?;
    let driver = tokio::spawn(connection);
    let result = top_on(&client, limit).await;
    drop(client);
    let _ = driver.await;
    result
}

/// The execution time of every statement of this database so far, milliseconds,
/// by PostgreSQL's own clock (`pg_stat_statements`); the difference of two readings
/// is the database's cost of what ran between them.
pub async fn exec_ms(url: &str) -> Result<f64, String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("PostgreSQL: {e}"))?;
    let driver = tokio::spawn(connection);
    let result = match ensure_extension(&client).await {
        Ok(()) => one(
            &client,
            "SELECT coalesce(sum(total_exec_time), 0)::text FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .await
        .and_then(|v| v.parse::<f64>().map_err(|e| e.to_string())),
        Err(e) => Err(e),
    };
    drop(client);
    let _ = driver.await;
    result
}

/// The library is preloaded and the extension exists in this database (created
/// here when missing).
async fn ensure_extension(client: &Client) -> Result<(), String> {
    let preload = one(client, "SHOW shared_preload_libraries").await?;
    if !preload.contains("pg_stat_statements") {
        return Err(
            "pg_stat_statements is not loaded (shared_preload_libraries; `make services` adds it)"
                .into(),
        );
    }
    let installed = one(
        client,
        "SELECT count(*)::text FROM pg_extension WHERE extname = 'pg_stat_statements'",
    )
    .await?;
    if installed == "0" {
        client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .map_err(|e| {
                format!("CREATE EXTENSION pg_stat_statements failed ({e}): run it as a superuser in this database")
            })?;
    }
    Ok(())
}

async fn top_on(client: &Client, limit: usize) -> Result<Vec<TopStatement>, String> {
    ensure_extension(client).await?;
    let rows = simple_rows(client, &format!("{TOP}{limit}")).await?;
    client
        .batch_execute("SET plan_cache_mode = force_generic_plan")
        .await
        .map_err(|e| e.to_string())?;
    let mut top = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let [query, calls, total] = <[String; 3]>::try_from(row).map_err(|_| "a short row")?;
        let scans = plan_scans(client, i, &query).await;
        top.push(TopStatement {
            calls: calls.parse().unwrap_or(0),
            total_ms: total.parse().unwrap_or(0.0),
            query,
            scans,
        });
    }
    Ok(top)
}

/// The filtering sequential scans of `query`'s generic plan.
async fn plan_scans(client: &Client, i: usize, query: &str) -> Result<Vec<SeqScan>, String> {
    let name = format!("brisk_doctor_{i}");
    let params = parameters(query);
    client
        .batch_execute(&format!("PREPARE {name} AS {query}"))
        .await
        .map_err(|e| short_error(&e))?;
    let args = match params {
        0 => String::new(),
        n => format!("({})", vec!["NULL"; n].join(", ")),
    };
    let plan = one(
        client,
        &format!("EXPLAIN (FORMAT JSON) EXECUTE {name}{args}"),
    )
    .await;
    let _ = client.batch_execute(&format!("DEALLOCATE {name}")).await;
    let plan: Value = serde_json::from_str(&plan?).map_err(|e| e.to_string())?;
    let mut scans = Vec::new();
    collect_scans(&plan[0]["Plan"], &mut scans);
    let mut found = Vec::with_capacity(scans.len());
    for (table, kept_rows) in scans {
        let rows = one(
            client,
            &format!(
                "SELECT (CASE WHEN reltuples >= 0 THEN reltuples \
                 ELSE pg_relation_size(oid) / 100 END)::text FROM pg_class WHERE oid = '{}'::regclass",
                table.replace('\'', "''")
            ),
        )
        .await?;
        found.push(SeqScan {
            table,
            table_rows: rows.parse().unwrap_or(0.0),
            kept_rows,
        });
    }
    Ok(found)
}

/// The highest `$n` of a normalized statement.
pub fn parameters(query: &str) -> usize {
    let mut max = 0;
    let mut rest = query;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        max = max.max(digits.parse().unwrap_or(0));
    }
    max
}

/// Every `Seq Scan` node with a `Filter` under `node`: (schema.table, rows kept).
pub fn collect_scans(node: &Value, out: &mut Vec<(String, f64)>) {
    if node["Node Type"] == "Seq Scan" && node.get("Filter").is_some() {
        let table = match node["Schema"].as_str() {
            Some(schema) => format!("{schema}.{}", node["Relation Name"].as_str().unwrap_or("")),
            None => node["Relation Name"].as_str().unwrap_or("").to_string(),
        };
        out.push((table, node["Plan Rows"].as_f64().unwrap_or(0.0)));
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        collect_scans(child, out);
    }
}

/// The first column of the first row of a simple query.
async fn one(client: &Client, sql: &str) -> Result<String, String> {
    simple_rows(client, sql)
        .await?
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .ok_or_else(|| format!("no answer to {sql}"))
}

async fn simple_rows(client: &Client, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| short_error(&e))?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// PostgreSQL's message of an error, without the client's framing.
fn short_error(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |db| db.message().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_parameter_number_is_counted() {
        assert_eq!(parameters("SELECT 1"), 0);
        assert_eq!(
            parameters("SELECT a FROM t WHERE b = $2 AND c = $10 LIMIT $1"),
            10
        );
    }

    #[test]
    fn only_filtering_sequential_scans_are_collected_from_nested_plans() {
        let plan = serde_json::json!({
            "Node Type": "Hash Join",
            "Plans": [
                {"Node Type": "Seq Scan", "Schema": "public", "Relation Name": "orders",
                 "Filter": "(tenant_id = $1)", "Plan Rows": 12},
                {"Node Type": "Hash", "Plans": [
                    {"Node Type": "Seq Scan", "Schema": "public", "Relation Name": "products",
                     "Plan Rows": 4000}
                ]}
            ]
        });
        let mut scans = Vec::new();
        collect_scans(&plan, &mut scans);
        assert_eq!(scans, vec![("public.orders".to_string(), 12.0)]);
    }
}
