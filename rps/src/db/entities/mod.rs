//! sea-orm entities for every table of the reference `rpsdb` (reference `init.sql`), column for column.
//!
//! Names are `citext` on Postgres and `COLLATE NOCASE` on SQLite; `save_as = "citext"` casts every value written
//! to or compared with such a column, so lookups are case-insensitive on both (a plain text parameter compared
//! with a citext column would compare case-sensitively on Postgres; on SQLite the cast only gives text affinity
//! and the column's NOCASE collation decides).
//!
//! No table has a version column: the reference uses the Postgres system column `xmin`; the SQLite schema adds an
//! `xmin` column kept current by a trigger. See [`crate::db::version_expr`].

pub mod ciraconfigs;
pub mod domains;
pub mod ieee8021xconfigs;
pub mod profiles;
pub mod profiles_proxyconfigs;
pub mod profiles_wirelessconfigs;
pub mod proxyconfigs;
pub mod wirelessconfigs;
