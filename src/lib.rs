//! vmx: applies the Voice Matrix AI schema to Supabase (PostgreSQL) and proves
//! that the database keeps the guide's promises.
//!
//! Layout, one module per job: `catalog` (the embedded files), `connect` (the
//! database connection), `migrate` (history, lock, apply, status, add-missing),
//! `spec` (what the seven tables must look like, as data), `verify` (checks,
//! probes), `report` (human, JSON, JUnit, GitHub), `sandbox` (the throwaway
//! PostgreSQL), `check` (the two put together), `releases` (every released
//! revision of the files), `notice` (the server's messages), `commands` (what
//! each command prints; the engines return, only `commands` and `report` print).

pub mod catalog;
pub mod check;
pub mod cli;
pub mod commands;
pub mod connect;
pub mod error;
pub mod migrate;
pub mod notice;
pub mod output;
pub mod releases;
pub mod report;
pub mod sandbox;
pub mod spec;
pub mod verify;
