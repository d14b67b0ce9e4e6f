//! Process hardening done before any secret is touched.

/// Disables core dumps (RLIMIT_CORE = 0) and marks the process not dumpable, which
/// also keeps other processes of the same user from attaching to it with ptrace.
/// Returns what could not be done, for a warning; zeroth goes on either way.
pub fn harden() -> Vec<String> {
    let mut problems = Vec::new();
    let zero = rustix::process::Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::Core, zero) {
        problems.push(format!("cannot disable core dumps: {e}"));
    }
    #[cfg(target_os = "linux")]
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        problems.push(format!("cannot mark the process not dumpable: {e}"));
    }
    problems
}
