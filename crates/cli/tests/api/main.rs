//! End-to-end tests: each starts the real `balena-sign` binary on loopback
//! and talks HTTP to it; outputs are checked with the standard tools.
//!
//! All integration tests live in this one binary, so it links once.

// Test helpers fail loudly by design; the workspace denies these outside tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod auth;
mod backup;
mod certificates;
mod client;
mod common;
mod efi;
mod fixture;
mod inputs;
mod kmod;
mod mock_balena;
mod nxp;
mod openpgp;
mod operations;
mod replay;
mod rpi;
mod secureboot;
mod server;
mod setup;
