//! One io_uring op per file; the socket types build on them.

pub(crate) mod accept;
pub(crate) mod accept_multi;
pub(crate) mod connect;
pub(crate) mod peer_cred;
pub(crate) mod recv;
pub(crate) mod recv_from;
pub(crate) mod recv_multi;
pub(crate) mod send;
pub(crate) mod send_to;
pub(crate) mod send_zc;
pub(crate) mod shutdown;
pub(crate) mod writev;
