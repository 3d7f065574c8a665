//! CPUs: which ones this process may use ([`allowed_cpus`], [`cpu_count`]), pinning threads
//! to them ([`pin_to`], [`pin_thread`], [`set_affinity`]), and what they spent: CPU clocks
//! of a process or thread, and the `/proc` counters read alongside them (context switches,
//! TCP segments, each CPU's busy time).

use std::io;

/// An empty CPU set.
fn no_cpus() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    unsafe { std::mem::zeroed() }
}

/// The CPUs the calling thread may run on (its affinity, which threads inherit from the one
/// that starts them), in order; none when `sched_getaffinity(2)` fails.
pub fn allowed_cpus() -> Vec<usize> {
    let mut set = no_cpus();
    // SAFETY: the kernel writes at most size_of::<cpu_set_t>() bytes into `set`.
    if unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return Vec::new();
    }
    // SAFETY: CPU_ISSET reads the set's words with bounds checks; c < CPU_SETSIZE is inside.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// The number of CPUs this process may use.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Restricts the calling thread (and threads it starts later) to `cpus`.
///
/// # Errors
/// `sched_setaffinity(2)`'s errno as is (EINVAL for a CPU this machine or cgroup lacks).
///
/// # Panics
/// For a CPU number of `CPU_SETSIZE` (1024) or more.
pub fn set_affinity(cpus: &[usize]) -> io::Result<()> {
    let mut set = no_cpus();
    for &cpu in cpus {
        // SAFETY: CPU_SET writes the set's words with bounds checks (a CPU past
        // CPU_SETSIZE panics rather than writing outside it).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: sched_setaffinity reads the set, of its size, for the calling thread.
    match unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// As [`set_affinity`], with the CPUs in the error.
///
/// # Errors
/// `sched_setaffinity(2)`'s errno.
pub fn pin_to(cpus: &[usize]) -> io::Result<()> {
    set_affinity(cpus)
        .map_err(|e| io::Error::new(e.kind(), format!("could not pin to CPUs {cpus:?}: {e}")))
}

/// Pins the calling thread to `cpu`.
///
/// # Errors
/// `sched_setaffinity(2)`'s errno (EINVAL for a CPU this machine or cgroup lacks).
pub fn pin_thread(cpu: usize) -> io::Result<()> {
    pin_to(&[cpu])
}

/// CPU time (user + system, all threads, live or exited) of process `pid`, in ns: the
/// process CPU clock (`clock_getcpuclockid`), which reads the scheduler's exact
/// per-thread runtime that `/proc/<pid>/schedstat` shows, rather than the 10 ms ticks of
/// `/proc/<pid>/stat`.
///
/// # Errors
/// ESRCH when the process is gone.
pub fn process_cpu_ns(pid: u32) -> io::Result<u64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is valid for the call to fill.
    let rc = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    clock_ns(clock)
}

/// CPU time of the calling thread, in ns.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or(0)
}

fn clock_ns(clock: libc::clockid_t) -> io::Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for the call to fill.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// `utime` and `stime` of process `pid` from `/proc/<pid>/stat`, in seconds (tick
/// resolution; for the user/system split).
///
/// # Errors
/// When the file cannot be read or parsed.
pub fn proc_stat_times(pid: u32) -> io::Result<(f64, f64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces; fields resume after its ')'.
    let rest = s
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("odd /proc/pid/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let tick = clock_ticks() as f64;
    let get = |i: usize| -> io::Result<f64> {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v as f64 / tick)
            .ok_or_else(|| io::Error::other("odd /proc/pid/stat"))
    };
    Ok((get(11)?, get(12)?))
}

/// Context switches of process `pid`, all threads, voluntary (it slept: waited for
/// events) plus involuntary (preempted), from `/proc/<pid>/status` (live threads only).
///
/// # Errors
/// When the file cannot be read.
pub fn context_switches(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let Ok(status) = std::fs::read_to_string(task?.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// TCP segments sent by the whole host (`OutSegs` of `/proc/net/snmp`): over loopback,
/// the requests, the echoes and every pure ACK of both sides.
///
/// # Errors
/// When the file cannot be read or parsed.
pub fn tcp_out_segs() -> io::Result<u64> {
    let s = std::fs::read_to_string("/proc/net/snmp")?;
    let mut tcp = s.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        return Err(io::Error::other("no Tcp lines in /proc/net/snmp"));
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "OutSegs")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| io::Error::other("no Tcp OutSegs in /proc/net/snmp"))
}

/// Busy time (user, nice, system, irq, softirq and steal) of each CPU in `cpus`, summed,
/// in seconds, from `/proc/stat` (tick resolution). Against the benchmark's own CPU time
/// it shows how much other processes (or the hypervisor) took from its CPUs.
///
/// # Errors
/// When `/proc/stat` cannot be read or parsed.
pub fn cpus_busy_s(cpus: &[usize]) -> io::Result<f64> {
    let s = std::fs::read_to_string("/proc/stat")?;
    let tick = clock_ticks() as f64;
    let mut total = 0u64;
    for line in s.lines() {
        let mut f = line.split_whitespace();
        let Some(cpu) = f
            .next()
            .and_then(|n| n.strip_prefix("cpu"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if !cpus.contains(&cpu) {
            continue;
        }
        let v: Vec<u64> = f.map(|x| x.parse().unwrap_or(0)).collect();
        // user nice system idle iowait irq softirq steal ...
        total += [0, 1, 2, 5, 6, 7]
            .iter()
            .map(|&i| v.get(i).copied().unwrap_or(0))
            .sum::<u64>();
    }
    Ok(total as f64 / tick)
}

fn clock_ticks() -> i64 {
    // SAFETY: sysconf takes a plain int.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t } else { 100 }
}
