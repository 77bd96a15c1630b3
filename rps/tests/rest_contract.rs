//! RPS REST's contract, in our own cases: every path and method the reference API has, the status codes, the
//! exact validation messages and error bodies, the bodies answered (every field, with its value), paging with
//! `$top`/`$skip`/`$count` and the `{data,totalCount}` shape, ETags and 304, versions with their 409/412
//! conflicts, refusals to delete what is in use, names in any case and with odd characters. Each suite is a
//! table of cases (see `rest_contract/case.rs`) run in order against RPS in-process, once on SQLite and once
//! on Postgres (without the read cache, so every read meets the database). Nothing beside the checkout is
//! needed: provisioning certificates are generated (`certs::provisioning`).
//!
//! These cover what the reference's Postman collection (`rps.postman_collection.json`, 260 requests,
//! 493 assertions) checks, folder by folder, and the rules of rps.md §1 it leaves out:
//!
//! | module | the collection's folders | and beyond them |
//! |---|---|---|
//! | `domains` | Domains | every PFX check (decryption, suffix, validity, root, EKU), legacy PKCS#12, PATCH without a format |
//! | `ciraconfigs` | CIRA | an empty body's 14 errors, every address format, exclusive PATCH port bounds, partial PATCH merge |
//! | `profiles` | Profiles | names with odd characters, `If-Match` over the body's version, TLS secrets removed on delete |
//! | `wireless` | Wireless | an empty body, link policies, name rules, version conflicts |
//! | `ieee8021x` | IEEE8021xConfigs | missing interface flag, the PXE timeout default, paging |
//! | `proxy` | Proxy | address formats found by themselves (IPv4, IPv6, FQDN), a missing port, duplicates by address |
//! | `integration` | Integration (profiles with CIRA, WiFi, proxy, 802.1x configs; WiFi with 802.1x) | foreign keys on update, list limits, in-use refusals for every kind |
//! | `service` | Get Version, Get Health | the admin root, Express's 404 page for verbs and paths it lacks, case-insensitive paths, malformed JSON |
//!
//! The reference's collection itself still runs, as an extra, in `postman.rs` when its files are present.

mod support;

/// The cases and what runs them.
mod rest_contract {
    pub mod case;
    pub mod ciraconfigs;
    pub mod domains;
    pub mod ieee8021x;
    pub mod integration;
    pub mod profiles;
    pub mod proxy;
    pub mod service;
    pub mod wireless;
}

/// `on_sqlite` and `on_postgres` for each suite.
macro_rules! on_both_backends {
    ($($suite:ident),* $(,)?) => {$(
        mod $suite {
            use crate::rest_contract::case::{Backend, run};
            use crate::rest_contract::$suite::cases;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                run(stringify!($suite), Backend::Sqlite, cases(Backend::Sqlite)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                run(stringify!($suite), Backend::Postgres, cases(Backend::Postgres)).await;
            }
        }
    )*};
}

on_both_backends!(
    domains,
    ciraconfigs,
    profiles,
    wireless,
    ieee8021x,
    proxy,
    integration,
    service,
);
