//! Black-box tests against a running node on a random port, with a mock registry and a mock
//! buyer app. Tests that involve the store run on SQLite and on PostgreSQL
//! (HAAT_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test).

mod helpers;

mod callbacks;
mod catalog;
mod commands;
mod conformance;
mod e2e;
mod inbound;
mod logs;
mod lookup;
mod onboarding;
mod orders;
mod process;
mod rules;
mod scale;
mod store;
