//! [`SharedFd`]: a socket's fd shared by its owner and the ops in flight on it (the runtime's
//! [`runtime::fd::SharedFd`]), so the fd stays open until every op that names it has its
//! final CQE; the last holder closes it without blocking the core.

pub(crate) use runtime::fd::SharedFd;
