//! Async files and directory operations on the runtime's op API: one op per file under
//! `op/`, `File`, `OpenOptions` and path functions built on them. Not written yet: this crate
//! is the place for them.
