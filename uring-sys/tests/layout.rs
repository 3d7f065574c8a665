//! Checks `uring_sys::abi` against the system's `<linux/io_uring.h>`: a C program, generated
//! from the table below and built with the system C compiler, prints the size, alignment and
//! field offsets of every struct, the offset and size of every SQE union member, and the value
//! of every constant; each printed line is compared with our value, and every mismatch is
//! listed.
//!
//! Items in every header since 6.1 are required. Newer ones (and names a later kernel renamed)
//! are compared where the header has them: the program is compiled, the lines the compiler
//! rejects are dropped, and it is compiled again, so no kernel version needs to be guessed.
//! The test skips only when no C compiler runs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::mem::{align_of, offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

use uring_sys::Sqe;
use uring_sys::abi::{self, *};

/// Whether the header must have an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    /// In every header from 6.1 on: a compile error or a missing line is a mismatch.
    Always,
    /// Newer than 6.1: compared where the header has it. The C program is compiled, the lines
    /// the compiler rejects are dropped, and it is compiled again.
    Optional,
    /// A name a later kernel renamed or reshaped: required unless the header has the item with
    /// this key (the new name), skipped if it does.
    Unless(&'static str),
    /// Part of a later reshaping: required if the header has the item with this key, skipped
    /// if not.
    With(&'static str),
}

/// One compared item: a key (`size io_uring_sqe`), the C expression that gives its value,
/// our value, and when the C side has it.
struct Item {
    key: String,
    c_expr: String,
    ours: i128,
    guard: Guard,
}

#[derive(Default)]
struct Table {
    items: Vec<Item>,
}

impl Table {
    fn push(&mut self, key: String, c_expr: String, ours: i128, guard: Guard) {
        self.items.push(Item {
            key,
            c_expr,
            ours,
            guard,
        });
    }

    fn size<T>(&mut self, c_struct: &str) {
        self.push(
            format!("size {c_struct}"),
            format!("sizeof(struct {c_struct})"),
            size_of::<T>() as i128,
            Guard::Always,
        );
        self.push(
            format!("align {c_struct}"),
            format!("_Alignof(struct {c_struct})"),
            align_of::<T>() as i128,
            Guard::Always,
        );
    }

    /// The offset and size of C field `c_struct.c_field` against ours.
    fn field(
        &mut self,
        c_struct: &str,
        c_field: &str,
        offset: usize,
        size: Option<usize>,
        guard: Guard,
    ) {
        self.push(
            format!("offset {c_struct}.{c_field}"),
            format!("offsetof(struct {c_struct}, {c_field})"),
            offset as i128,
            guard,
        );
        // A flexible array member has no size.
        if let Some(size) = size {
            self.push(
                format!("fieldsize {c_struct}.{c_field}"),
                format!("sizeof(((struct {c_struct} *)0)->{c_field})"),
                size as i128,
                guard,
            );
        }
    }

    fn constant(&mut self, name: &str, ours: i128, guard: Guard) {
        self.push(format!("const {name}"), format!("({name})"), ours, guard);
    }

    /// The C program: one `printf` per item, one item per line, leaving out `dropped`.
    /// Returns the source and the item index of each line.
    fn c_source(&self, dropped: &HashSet<usize>) -> (String, HashMap<usize, usize>) {
        let mut c = String::from(
            "#include <stddef.h>\n#include <stdio.h>\n#include <linux/io_uring.h>\n\
             int main(void) {\n",
        );
        let mut lines = HashMap::new();
        let mut line = c.lines().count() + 1;
        for (index, item) in self.items.iter().enumerate() {
            if dropped.contains(&index) {
                continue;
            }
            writeln!(
                c,
                "\tprintf(\"{index} %lld\\n\", (long long){}); /* {} */",
                item.c_expr, item.key
            )
            .unwrap();
            lines.insert(line, index);
            line += 1;
        }
        c.push_str("\treturn 0;\n}\n");
        (c, lines)
    }
}

/// The size of the field a projection closure picks.
fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// Fields whose C name is our name.
macro_rules! fields {
    ($t:ident; $c_struct:ident: $($f:ident),* $(,)?) => {$(
        $t.field(
            stringify!($c_struct),
            stringify!($f),
            offset_of!($c_struct, $f),
            Some(field_size(|s: &$c_struct| &s.$f)),
            Guard::Always,
        );
    )*};
}

/// Constants present in every header from 6.1 on.
macro_rules! consts {
    ($t:ident; $($name:ident),* $(,)?) => {$(
        $t.constant(stringify!($name), abi::$name as i128, Guard::Always);
    )*};
}

/// Constants newer than 6.1: compared where the header has them.
macro_rules! newer_consts {
    ($t:ident; $($name:ident),* $(,)?) => {$(
        $t.constant(stringify!($name), abi::$name as i128, Guard::Optional);
    )*};
}

/// The SQE's union members (and named struct members inside unions) in the 6.1 header, all
/// of which `Sqe::MEMBERS` must list.
const SQE_MEMBERS_6_1: &[&str] = &[
    "off",
    "addr2",
    "cmd_op",
    "addr",
    "splice_off_in",
    "rw_flags",
    "fsync_flags",
    "poll_events",
    "poll32_events",
    "sync_range_flags",
    "msg_flags",
    "timeout_flags",
    "accept_flags",
    "cancel_flags",
    "open_flags",
    "statx_flags",
    "fadvise_advice",
    "splice_flags",
    "rename_flags",
    "unlink_flags",
    "hardlink_flags",
    "xattr_flags",
    "msg_ring_flags",
    "uring_cmd_flags",
    "buf_index",
    "buf_group",
    "splice_fd_in",
    "file_index",
    "addr_len",
    "addr3",
];

const SYNC_CANCEL_OPCODE: &str = "offset io_uring_sync_cancel_reg.opcode";

fn build_table() -> Table {
    let mut t = Table::default();

    // ---- io_uring_sqe ----
    t.size::<io_uring_sqe>("io_uring_sqe");
    fields!(t; io_uring_sqe: opcode, flags, ioprio, fd, len, user_data, personality);
    for &(name, offset, size) in Sqe::MEMBERS {
        let guard = if SQE_MEMBERS_6_1.contains(&name) {
            Guard::Always
        } else {
            Guard::Optional
        };
        t.field("io_uring_sqe", name, offset, Some(size), guard);
    }
    // Padding members and the SQE128 command area, which have no accessor.
    let off = offset_of!(io_uring_sqe, off);
    let file_index = offset_of!(io_uring_sqe, file_index);
    let addr3 = offset_of!(io_uring_sqe, addr3);
    t.field("io_uring_sqe", "__pad1", off + 4, Some(4), Guard::Always);
    t.field(
        "io_uring_sqe",
        "__pad3",
        file_index + 2,
        Some(2),
        Guard::Always,
    );
    t.field(
        "io_uring_sqe",
        "__pad2",
        offset_of!(io_uring_sqe, attr_type_mask),
        Some(8),
        Guard::Always,
    );
    t.field("io_uring_sqe", "cmd", addr3, None, Guard::Always);

    // ---- io_uring_cqe ----
    t.size::<io_uring_cqe>("io_uring_cqe");
    fields!(t; io_uring_cqe: user_data, res, flags);
    t.field(
        "io_uring_cqe",
        "big_cqe",
        size_of::<io_uring_cqe>(),
        None,
        Guard::Always,
    );

    // ---- ring offsets and params ----
    // `resv2` became `user_addr` in 6.5.
    t.size::<io_sqring_offsets>("io_sqring_offsets");
    fields!(t; io_sqring_offsets: head, tail, ring_mask, ring_entries, flags, dropped, array, resv1);
    t.size::<io_cqring_offsets>("io_cqring_offsets");
    fields!(t; io_cqring_offsets: head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1);
    for (s, offset) in [
        (
            "io_sqring_offsets",
            offset_of!(io_sqring_offsets, user_addr),
        ),
        (
            "io_cqring_offsets",
            offset_of!(io_cqring_offsets, user_addr),
        ),
    ] {
        let renamed = if s == "io_sqring_offsets" {
            "offset io_sqring_offsets.user_addr"
        } else {
            "offset io_cqring_offsets.user_addr"
        };
        t.field(s, "resv2", offset, Some(8), Guard::Unless(renamed));
        t.field(s, "user_addr", offset, Some(8), Guard::Optional);
    }
    t.size::<io_uring_params>("io_uring_params");
    fields!(t; io_uring_params: sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle,
        features, wq_fd, resv, sq_off, cq_off);

    // ---- probe, restrictions ----
    t.size::<io_uring_probe_op>("io_uring_probe_op");
    fields!(t; io_uring_probe_op: op, resv, flags, resv2);
    t.size::<io_uring_probe>("io_uring_probe");
    fields!(t; io_uring_probe: last_op, ops_len, resv, resv2);
    t.field(
        "io_uring_probe",
        "ops",
        size_of::<io_uring_probe>(),
        None,
        Guard::Always,
    );
    t.size::<io_uring_restriction>("io_uring_restriction");
    fields!(t; io_uring_restriction: opcode, resv, resv2);
    for member in ["register_op", "sqe_op", "sqe_flags"] {
        t.field(
            "io_uring_restriction",
            member,
            offset_of!(io_uring_restriction, op),
            Some(1),
            Guard::Always,
        );
    }

    // ---- provided buffer rings ----
    t.size::<io_uring_buf>("io_uring_buf");
    fields!(t; io_uring_buf: addr, len, bid, resv);
    t.size::<io_uring_buf_ring>("io_uring_buf_ring");
    fields!(t; io_uring_buf_ring: resv1, resv2, resv3, tail);
    t.field("io_uring_buf_ring", "bufs", 0, None, Guard::Always);
    t.size::<io_uring_buf_reg>("io_uring_buf_reg");
    fields!(t; io_uring_buf_reg: ring_addr, ring_entries, bgid, resv);
    // `pad` became `flags` in 6.4.
    let flags = offset_of!(io_uring_buf_reg, flags);
    t.field(
        "io_uring_buf_reg",
        "pad",
        flags,
        Some(2),
        Guard::Unless("offset io_uring_buf_reg.flags"),
    );
    t.field("io_uring_buf_reg", "flags", flags, Some(2), Guard::Optional);

    // ---- registration arguments ----
    t.size::<io_uring_rsrc_register>("io_uring_rsrc_register");
    fields!(t; io_uring_rsrc_register: nr, flags, resv2, data, tags);
    t.size::<io_uring_rsrc_update>("io_uring_rsrc_update");
    fields!(t; io_uring_rsrc_update: offset, resv, data);
    t.size::<io_uring_rsrc_update2>("io_uring_rsrc_update2");
    fields!(t; io_uring_rsrc_update2: offset, resv, data, tags, nr, resv2);
    // The deprecated `io_uring_files_update` is `io_uring_rsrc_update` with `data` named `fds`.
    t.push(
        "size io_uring_files_update".into(),
        "sizeof(struct io_uring_files_update)".into(),
        size_of::<io_uring_rsrc_update>() as i128,
        Guard::Always,
    );
    for (c, ours) in [
        ("offset", offset_of!(io_uring_rsrc_update, offset)),
        ("resv", offset_of!(io_uring_rsrc_update, resv)),
        ("fds", offset_of!(io_uring_rsrc_update, data)),
    ] {
        t.field("io_uring_files_update", c, ours, None, Guard::Always);
    }
    t.size::<io_uring_file_index_range>("io_uring_file_index_range");
    fields!(t; io_uring_file_index_range: off, len, resv);

    // ---- enter argument, sync cancel ----
    t.size::<__kernel_timespec>("__kernel_timespec");
    fields!(t; __kernel_timespec: tv_sec, tv_nsec);
    t.size::<io_uring_getevents_arg>("io_uring_getevents_arg");
    fields!(t; io_uring_getevents_arg: sigmask, sigmask_sz, ts);
    // `pad` became `min_wait_usec` in 6.12.
    let min_wait = offset_of!(io_uring_getevents_arg, min_wait_usec);
    t.field(
        "io_uring_getevents_arg",
        "pad",
        min_wait,
        Some(4),
        Guard::Unless("offset io_uring_getevents_arg.min_wait_usec"),
    );
    t.field(
        "io_uring_getevents_arg",
        "min_wait_usec",
        min_wait,
        Some(4),
        Guard::Optional,
    );
    t.size::<io_uring_sync_cancel_reg>("io_uring_sync_cancel_reg");
    fields!(t; io_uring_sync_cancel_reg: addr, fd, flags, timeout);
    // `pad[4]` became `opcode, pad[7], pad2[3]` in 6.6.
    let opcode = offset_of!(io_uring_sync_cancel_reg, opcode);
    t.field(
        "io_uring_sync_cancel_reg",
        "pad",
        opcode,
        Some(size_of::<io_uring_sync_cancel_reg>() - opcode),
        Guard::Unless(SYNC_CANCEL_OPCODE),
    );
    t.field(
        "io_uring_sync_cancel_reg",
        "opcode",
        opcode,
        Some(1),
        Guard::Optional,
    );
    for (name, offset, size) in [
        ("pad", offset_of!(io_uring_sync_cancel_reg, pad), 7),
        ("pad2", offset_of!(io_uring_sync_cancel_reg, pad2), 24),
    ] {
        t.field(
            "io_uring_sync_cancel_reg",
            name,
            offset,
            Some(size),
            Guard::With(SYNC_CANCEL_OPCODE),
        );
    }
    t.size::<io_uring_recvmsg_out>("io_uring_recvmsg_out");
    fields!(t; io_uring_recvmsg_out: namelen, controllen, payloadlen, flags);

    // ---- constants in the 6.1 header ----
    consts!(t;
        IOSQE_FIXED_FILE, IOSQE_IO_DRAIN, IOSQE_IO_LINK, IOSQE_IO_HARDLINK, IOSQE_ASYNC,
        IOSQE_BUFFER_SELECT, IOSQE_CQE_SKIP_SUCCESS, IORING_FILE_INDEX_ALLOC,
        IORING_SETUP_IOPOLL, IORING_SETUP_SQPOLL, IORING_SETUP_SQ_AFF, IORING_SETUP_CQSIZE,
        IORING_SETUP_CLAMP, IORING_SETUP_ATTACH_WQ, IORING_SETUP_R_DISABLED,
        IORING_SETUP_SUBMIT_ALL, IORING_SETUP_COOP_TASKRUN, IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_SQE128, IORING_SETUP_CQE32, IORING_SETUP_SINGLE_ISSUER,
        IORING_SETUP_DEFER_TASKRUN,
        IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_READ_FIXED,
        IORING_OP_WRITE_FIXED, IORING_OP_POLL_ADD, IORING_OP_POLL_REMOVE,
        IORING_OP_SYNC_FILE_RANGE, IORING_OP_SENDMSG, IORING_OP_RECVMSG, IORING_OP_TIMEOUT,
        IORING_OP_TIMEOUT_REMOVE, IORING_OP_ACCEPT, IORING_OP_ASYNC_CANCEL,
        IORING_OP_LINK_TIMEOUT, IORING_OP_CONNECT, IORING_OP_FALLOCATE, IORING_OP_OPENAT,
        IORING_OP_CLOSE, IORING_OP_FILES_UPDATE, IORING_OP_STATX, IORING_OP_READ,
        IORING_OP_WRITE, IORING_OP_FADVISE, IORING_OP_MADVISE, IORING_OP_SEND, IORING_OP_RECV,
        IORING_OP_OPENAT2, IORING_OP_EPOLL_CTL, IORING_OP_SPLICE, IORING_OP_PROVIDE_BUFFERS,
        IORING_OP_REMOVE_BUFFERS, IORING_OP_TEE, IORING_OP_SHUTDOWN, IORING_OP_RENAMEAT,
        IORING_OP_UNLINKAT, IORING_OP_MKDIRAT, IORING_OP_SYMLINKAT, IORING_OP_LINKAT,
        IORING_OP_MSG_RING, IORING_OP_FSETXATTR, IORING_OP_SETXATTR, IORING_OP_FGETXATTR,
        IORING_OP_GETXATTR, IORING_OP_SOCKET, IORING_OP_URING_CMD, IORING_OP_SEND_ZC,
        IORING_OP_SENDMSG_ZC,
        IORING_URING_CMD_FIXED, IORING_FSYNC_DATASYNC,
        IORING_TIMEOUT_ABS, IORING_TIMEOUT_UPDATE, IORING_TIMEOUT_BOOTTIME,
        IORING_TIMEOUT_REALTIME, IORING_LINK_TIMEOUT_UPDATE, IORING_TIMEOUT_ETIME_SUCCESS,
        IORING_TIMEOUT_CLOCK_MASK, IORING_TIMEOUT_UPDATE_MASK, SPLICE_F_FD_IN_FIXED,
        IORING_POLL_ADD_MULTI, IORING_POLL_UPDATE_EVENTS, IORING_POLL_UPDATE_USER_DATA,
        IORING_POLL_ADD_LEVEL,
        IORING_ASYNC_CANCEL_ALL, IORING_ASYNC_CANCEL_FD, IORING_ASYNC_CANCEL_ANY,
        IORING_ASYNC_CANCEL_FD_FIXED, IORING_ASYNC_CANCEL_USERDATA, IORING_ASYNC_CANCEL_OP,
        IORING_RECVSEND_POLL_FIRST, IORING_RECV_MULTISHOT, IORING_RECVSEND_FIXED_BUF,
        IORING_SEND_ZC_REPORT_USAGE, IORING_NOTIF_USAGE_ZC_COPIED, IORING_ACCEPT_MULTISHOT,
        IORING_MSG_DATA, IORING_MSG_SEND_FD, IORING_MSG_RING_CQE_SKIP,
        IORING_CQE_F_BUFFER, IORING_CQE_F_MORE, IORING_CQE_F_SOCK_NONEMPTY, IORING_CQE_F_NOTIF,
        IORING_CQE_BUFFER_SHIFT,
        IORING_OFF_SQ_RING, IORING_OFF_CQ_RING, IORING_OFF_SQES, IORING_OFF_MMAP_MASK,
        IORING_SQ_NEED_WAKEUP, IORING_SQ_CQ_OVERFLOW, IORING_SQ_TASKRUN,
        IORING_CQ_EVENTFD_DISABLED,
        IORING_ENTER_GETEVENTS, IORING_ENTER_SQ_WAKEUP, IORING_ENTER_SQ_WAIT,
        IORING_ENTER_EXT_ARG, IORING_ENTER_REGISTERED_RING,
        IORING_FEAT_SINGLE_MMAP, IORING_FEAT_NODROP, IORING_FEAT_SUBMIT_STABLE,
        IORING_FEAT_RW_CUR_POS, IORING_FEAT_CUR_PERSONALITY, IORING_FEAT_FAST_POLL,
        IORING_FEAT_POLL_32BITS, IORING_FEAT_SQPOLL_NONFIXED, IORING_FEAT_EXT_ARG,
        IORING_FEAT_NATIVE_WORKERS, IORING_FEAT_RSRC_TAGS, IORING_FEAT_CQE_SKIP,
        IORING_FEAT_LINKED_FILE,
        IORING_REGISTER_BUFFERS, IORING_UNREGISTER_BUFFERS, IORING_REGISTER_FILES,
        IORING_UNREGISTER_FILES, IORING_REGISTER_EVENTFD, IORING_UNREGISTER_EVENTFD,
        IORING_REGISTER_FILES_UPDATE, IORING_REGISTER_EVENTFD_ASYNC, IORING_REGISTER_PROBE,
        IORING_REGISTER_PERSONALITY, IORING_UNREGISTER_PERSONALITY,
        IORING_REGISTER_RESTRICTIONS, IORING_REGISTER_ENABLE_RINGS, IORING_REGISTER_FILES2,
        IORING_REGISTER_FILES_UPDATE2, IORING_REGISTER_BUFFERS2, IORING_REGISTER_BUFFERS_UPDATE,
        IORING_REGISTER_IOWQ_AFF, IORING_UNREGISTER_IOWQ_AFF, IORING_REGISTER_IOWQ_MAX_WORKERS,
        IORING_REGISTER_RING_FDS, IORING_UNREGISTER_RING_FDS, IORING_REGISTER_PBUF_RING,
        IORING_UNREGISTER_PBUF_RING, IORING_REGISTER_SYNC_CANCEL,
        IORING_REGISTER_FILE_ALLOC_RANGE,
        IO_WQ_BOUND, IO_WQ_UNBOUND, IORING_RSRC_REGISTER_SPARSE, IORING_REGISTER_FILES_SKIP,
        IO_URING_OP_SUPPORTED,
        IORING_RESTRICTION_REGISTER_OP, IORING_RESTRICTION_SQE_OP,
        IORING_RESTRICTION_SQE_FLAGS_ALLOWED, IORING_RESTRICTION_SQE_FLAGS_REQUIRED,
    );

    // ---- newer constants, compared where the header has them (not IORING_OP_LAST and
    // IORING_REGISTER_LAST, which grow with each release) ----
    newer_consts!(t;
        IORING_SETUP_NO_MMAP, IORING_SETUP_REGISTERED_FD_ONLY, IORING_SETUP_NO_SQARRAY,
        IORING_SETUP_HYBRID_IOPOLL, IORING_SETUP_CQE_MIXED, IORING_TIMEOUT_MULTISHOT,
        IORING_RECVSEND_BUNDLE, IORING_SEND_VECTORIZED, IORING_ACCEPT_DONTWAIT,
        IORING_ACCEPT_POLL_FIRST, IORING_EPOLL_WAIT_MULTISHOT, IORING_MSG_RING_FLAGS_PASS,
        IORING_FIXED_FD_NO_CLOEXEC, IORING_NOP_INJECT_RESULT, IORING_NOP_FILE,
        IORING_NOP_FIXED_FILE, IORING_NOP_FIXED_BUFFER, IORING_NOP_TW, IORING_NOP_CQE32,
        IORING_CQE_F_BUF_MORE, IORING_CQE_F_SKIP, IORING_CQE_F_32, IORING_OFF_PBUF_RING,
        IORING_OFF_PBUF_SHIFT, IORING_ENTER_ABS_TIMER, IORING_ENTER_EXT_ARG_REG,
        IORING_ENTER_NO_IOWAIT, IORING_FEAT_REG_REG_RING, IORING_FEAT_RECVSEND_BUNDLE,
        IORING_FEAT_MIN_TIMEOUT, IORING_FEAT_RW_ATTR, IORING_FEAT_NO_IOWAIT,
        IORING_REGISTER_USE_REGISTERED_RING, IOU_PBUF_RING_MMAP, IOU_PBUF_RING_INC,

        IORING_OP_READ_MULTISHOT, IORING_OP_WAITID, IORING_OP_FUTEX_WAIT,
        IORING_OP_FUTEX_WAKE, IORING_OP_FUTEX_WAITV,
        IORING_OP_FIXED_FD_INSTALL, IORING_OP_FTRUNCATE, IORING_OP_BIND,
        IORING_OP_LISTEN, IORING_OP_RECV_ZC, IORING_OP_EPOLL_WAIT,
        IORING_OP_READV_FIXED, IORING_OP_WRITEV_FIXED, IORING_OP_PIPE,
        IORING_REGISTER_PBUF_STATUS, IORING_REGISTER_NAPI,
        IORING_UNREGISTER_NAPI, IORING_REGISTER_CLOCK,
        IORING_REGISTER_CLONE_BUFFERS, IORING_REGISTER_SEND_MSG_RING,
        IORING_REGISTER_RESIZE_RINGS, IORING_REGISTER_MEM_REGION,
        IORING_REGISTER_ZCRX_IFQ, IORING_REGISTER_QUERY,
    );

    t
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("uring-sys-layout-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles the table's C program, dropping optional items the header lacks: each compile
/// error names a line, each line one item. Returns the C program's output, or `None` when no C
/// compiler runs.
fn compile_and_run(table: &Table, dir: &TempDir) -> Option<(String, HashSet<usize>)> {
    let src = dir.0.join("layout.c");
    let exe = dir.0.join("layout");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let mut dropped = HashSet::new();
    loop {
        let (source, lines) = table.c_source(&dropped);
        std::fs::write(&src, source).expect("write layout.c");
        let out = match Command::new(&cc)
            .args(["-std=gnu11", "-o"])
            .arg(&exe)
            .arg(&src)
            .output()
        {
            Ok(out) => out,
            Err(e) => {
                println!("skipped: no C compiler (`{cc}`: {e}); set CC to compare with the header");
                return None;
            }
        };
        if out.status.success() {
            break;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        // `…/layout.c:LINE:COL: error: …` (gcc and clang alike).
        let failed: HashSet<usize> = stderr
            .lines()
            .filter(|l| l.contains(": error"))
            .filter_map(|l| l.split_once("layout.c:"))
            .filter_map(|(_, rest)| rest.split(':').next()?.parse().ok())
            .filter_map(|line: usize| lines.get(&line).copied())
            .collect();
        let required: Vec<&str> = failed
            .iter()
            .filter(|&&i| table.items[i].guard == Guard::Always)
            .map(|&i| table.items[i].key.as_str())
            .collect();
        assert!(
            !failed.is_empty() && required.is_empty(),
            "{cc} rejects items every header since 6.1 has ({required:?}):\n{stderr}"
        );
        dropped.extend(failed);
    }
    let out = Command::new(&exe).output().expect("run the layout program");
    assert!(out.status.success(), "the layout program failed");
    Some((
        String::from_utf8(out.stdout).expect("ASCII output"),
        dropped,
    ))
}

#[test]
fn abi_matches_the_system_c_header() {
    let table = build_table();

    // Sqe::MEMBERS must know every union member of the oldest header we check against.
    let missing: Vec<_> = SQE_MEMBERS_6_1
        .iter()
        .filter(|n| !Sqe::MEMBERS.iter().any(|m| m.0 == **n))
        .collect();
    assert!(
        missing.is_empty(),
        "Sqe::MEMBERS lacks {missing:?} of the 6.1 header"
    );
    // A key repeats only for a reshaped struct, under `Unless`/`With`.
    let mut keys = HashSet::new();
    for item in &table.items {
        let unique = matches!(item.guard, Guard::Always | Guard::Optional);
        assert!(
            keys.insert(&item.key) || !unique,
            "duplicate table key {}",
            item.key
        );
    }

    let dir = TempDir::new();
    let Some((stdout, dropped)) = compile_and_run(&table, &dir) else {
        return;
    };
    let mut c_values = BTreeMap::new();
    for line in stdout.lines() {
        let (index, value) = line.split_once(' ').expect("`index value` lines");
        let index: usize = index.parse().expect("an item index");
        let value: i128 = value.parse().expect("a number");
        c_values.insert(index, value);
    }
    // Which keys the header has, for `Unless` and `With`.
    let present: HashSet<&str> = table
        .items
        .iter()
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i))
        .map(|(_, item)| item.key.as_str())
        .collect();

    let mut mismatches = Vec::new();
    let mut compared = 0;
    let mut absent = Vec::new();
    for (index, item) in table.items.iter().enumerate() {
        let wanted = match item.guard {
            Guard::Always | Guard::Optional => true,
            Guard::Unless(new) => !present.contains(new),
            Guard::With(new) => present.contains(new),
        };
        let required = match item.guard {
            Guard::Always => true,
            Guard::Optional => false,
            Guard::Unless(_) | Guard::With(_) => wanted,
        };
        match c_values.remove(&index) {
            Some(_) if !wanted => {}
            Some(c) => {
                compared += 1;
                if c != item.ours {
                    mismatches.push(format!("{}: C says {c}, abi says {}", item.key, item.ours));
                }
            }
            None if required => {
                mismatches.push(format!("{}: not in the header", item.key));
            }
            None => absent.push(item.key.as_str()),
        }
    }
    println!(
        "compared {compared} items; not in this header (newer): {}",
        absent.join(", ")
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches between uring_sys::abi and <linux/io_uring.h>:\n  {}",
        mismatches.len(),
        mismatches.join("\n  ")
    );
    assert!(
        c_values.is_empty(),
        "the C program printed items it was not asked for: {c_values:?}"
    );
    // The 6.1 header alone gives over 400 items; a broken generator must not pass quietly.
    assert!(compared >= 400, "only {compared} items compared");
}
