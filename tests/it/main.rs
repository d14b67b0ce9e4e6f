//! Integration tests: the zeroth binary against a real PKCS#11 module (SoftHSM2, or
//! the one `ZEROTH_TEST_MODULE` names: Kryoptic in scripts/test.sh),
//! inspected with pkcs11-tool and openssl where the design says so.

mod common;
#[path = "../../examples/common/soft_key.rs"]
mod soft_key;

mod audit;
mod ceremonies;
mod custody;
mod delivery;
mod fault_matrix;
mod faults;
mod formats;
mod governance;
mod integrity;
mod leaks;
mod lifecycle;
mod paper;
mod quorum;
mod refusals;
mod remote;
mod terminal;
mod tokens;
mod ux;
mod vault;
