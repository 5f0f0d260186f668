//! Parameters of a long statement, numbered as they are bound.
//!
//! A statement with a dozen parameters reads better with each value named where it
//! is used than with `$1`…`$15` counted by hand. sqlx's `QueryBuilder` would number
//! them, but for the Any driver it writes `?`, which PostgreSQL refuses; `$N` works
//! on both backends (SQLite takes it as a numbered parameter).

use sqlx::any::{Any, AnyArguments};
use sqlx::{Arguments, Encode, Type};

/// The values bound so far, and the placeholder of the next.
#[derive(Default)]
pub(super) struct Params<'q> {
    arguments: AnyArguments<'q>,
}

impl<'q> Params<'q> {
    /// Binds `value` and gives its placeholder (`$N`), to be written into the SQL
    /// as often as the value is used.
    pub(super) fn bind<T>(&mut self, value: T) -> String
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        self.arguments
            .add(value)
            .expect("the catalog binds only text, integers and floats, which always encode");
        format!("${}", self.arguments.len())
    }

    /// The statement `sql`, written with these placeholders, with its values.
    pub(super) fn query(self, sql: &'q str) -> sqlx::query::Query<'q, Any, AnyArguments<'q>> {
        sqlx::query_with(sql, self.arguments)
    }
}
