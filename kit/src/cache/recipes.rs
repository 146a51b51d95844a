//! The recipe registry: how to recompute a view or a memoized call without a request
//! (registered by the application), and the start-up preloads. `refresh` registers
//! and runs them.

use super::keys::Scope;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A registered computation, used by the warming scheduler and the start-up preload
/// to recompute an entry without a request.
pub type RecipeFn =
    Arc<dyn Fn(Scope, Arc<str>) -> BoxFuture<'static, Result<Bytes, String>> + Send + Sync>;
/// What a preload computes: (scope, arguments) pairs of one recipe.
pub(super) type PreloadFn = Arc<dyn Fn() -> BoxFuture<'static, Vec<(Scope, String)>> + Send + Sync>;

/// What a recipe recomputes: a view or a memoized function.
#[derive(Clone)]
pub(super) enum RecipeKind {
    View {
        namespace: Arc<str>,
        route: Arc<str>,
    },
    Memo {
        name: Arc<str>,
    },
}

/// A registered recomputation: what, for how long, how.
#[derive(Clone)]
pub(super) struct Recipe {
    pub(super) kind: RecipeKind,
    pub(super) ttl: Duration,
    pub(super) compute: RecipeFn,
}

/// The recipe id of a view (what a read of it reports to the hot-key counts).
pub(super) fn view_recipe_id(namespace: &str, route: &str) -> String {
    format!("view:{namespace}:{route}")
}

/// The recipe id of a memoized function.
pub(super) fn memo_recipe_id(name: &str) -> String {
    format!("memo:{name}")
}

/// Registered recipes by id, and the preloads (recipe id, what to compute).
#[derive(Default)]
pub(super) struct Recipes {
    recipes: RwLock<HashMap<String, Recipe>>,
    preloads: RwLock<Vec<(String, PreloadFn)>>,
}

impl Recipes {
    pub(super) fn add(&self, id: String, recipe: Recipe) {
        // A poisoned lock only means a panic elsewhere mid-insert; the map is usable.
        let mut recipes = self.recipes.write().unwrap_or_else(|p| p.into_inner());
        recipes.insert(id, recipe);
    }

    pub(super) fn get(&self, id: &str) -> Option<Recipe> {
        let recipes = self.recipes.read().unwrap_or_else(|p| p.into_inner());
        recipes.get(id).cloned()
    }

    /// Whether a recipe is registered under `id` (reads of others are not counted).
    pub(super) fn contains(&self, id: &str) -> bool {
        let recipes = self.recipes.read().unwrap_or_else(|p| p.into_inner());
        recipes.contains_key(id)
    }

    pub(super) fn add_preload(&self, id: String, list: PreloadFn) {
        let mut preloads = self.preloads.write().unwrap_or_else(|p| p.into_inner());
        preloads.push((id, list));
    }

    pub(super) fn preloads(&self) -> Vec<(String, PreloadFn)> {
        self.preloads
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
