//! [`select!`](crate::select!) and [`join!`](crate::join!): several futures on one task.
//!
//! Both poll their futures in place, on the calling task (no spawn, so the futures may
//! borrow), and are declarative macros.

/// Waits on several futures at once and runs the handler of the first to complete; the
/// others are dropped, which is safe with this runtime's futures (below).
///
/// # Dropping a losing branch is safe
/// `select!` drops every branch but the one that completed, as tokio's does. With this
/// runtime's futures that loses nothing the kernel already did: a dropped op keeps its
/// buffers until the kernel's final completion (the op contract), a dropped read on a `net`
/// stream keeps the bytes it received for the stream's next read, a dropped stream write
/// still completes in order, a dropped `accept` keeps its connection for the next one, and
/// [`Lines::next_line`](crate::io::Lines::next_line),
/// [`read_line`](crate::io::AsyncBufReadExt::read_line),
/// [`Interval::tick`](crate::time::Interval::tick) and the channels' `recv` consume nothing
/// when dropped. Each I/O method says so under "Cancel safety"; those that are not cancel
/// safe (a `write_all`, a `read_to_end`) belong in a branch only if the loop ends with them.
///
/// ```text
/// select! {
///     [biased;]
///     PATTERN = FUTURE [, if CONDITION] => HANDLER,
///     …                                            (up to 8 branches)
///     [else => HANDLER]
/// }
/// ```
///
/// As tokio's `select!`: every `FUTURE` expression is evaluated first; a branch whose
/// `CONDITION` is false is disabled; a branch whose output does not match its `PATTERN` is
/// disabled and the others are polled on; when every branch is disabled the `else` handler
/// runs (without one, `select!` panics). Handlers run after the futures are dropped, outside
/// any closure, so `break`, `continue`, `return`, `?` and `.await` in them act on the
/// enclosing function and loop.
///
/// Differences from tokio:
/// - Branches are polled in the order written, every time (tokio starts at a random branch
///   unless `biased;`): put the branch that must not starve first, or the cheap one.
///   `biased;` is accepted and changes nothing.
/// - A pattern is first tested on a reference to the output, so a binding cannot be `mut` or
///   `ref`: bind it plainly and write `let mut x = x;` in the handler.
///
/// # Examples
/// Two channels until both are closed (a closed one's `recv` yields `None`, which does not
/// match `Some(v)`: its branch is disabled for that round, and `else` runs once both are):
/// ```
/// use runtime::sync::mpsc;
///
/// runtime::Runtime::new()?.block_on(async {
///     let (tx1, mut rx1) = mpsc::channel(4);
///     let (tx2, mut rx2) = mpsc::channel(4);
///     tx1.send(1).await.unwrap();
///     tx2.send(2).await.unwrap();
///     drop((tx1, tx2));
///     let mut sum = 0;
///     loop {
///         runtime::select! {
///             Some(v) = rx1.recv() => sum += v,
///             Some(v) = rx2.recv() => sum += v,
///             else => break,
///         }
///     }
///     assert_eq!(sum, 3);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
/// A read with a deadline; the read that lost is dropped, and the stream keeps whatever it
/// had received for the next read:
/// ```
/// use std::time::Duration;
/// use runtime::io::AsyncRead;
///
/// async fn read_or_give_up(mut r: impl AsyncRead) -> std::io::Result<Option<Vec<u8>>> {
///     runtime::select! {
///         (res, buf) = r.read(Vec::with_capacity(1024)) => {
///             res?;
///             Ok(Some(buf))
///         }
///         _ = runtime::time::sleep(Duration::from_secs(1)) => Ok(None),
///     }
/// }
/// runtime::Runtime::new()?.block_on(async {
///     assert_eq!(read_or_give_up(b"hi".as_slice()).await?, Some(b"hi".to_vec()));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[macro_export]
macro_rules! select {
    (biased; $($t:tt)*) => {
        $crate::select!($($t)*)
    };
    ($($t:tt)*) => {
        $crate::__select!(@parse [] [_0 _1 _2 _3 _4 _5 _6 _7] $($t)*)
    };
}

/// The parts of [`select!`]: `@parse` takes the branches one by one, naming each by the
/// next identifier of the list (its variable and its output's variant); `@emit` writes the
/// code.
#[doc(hidden)]
#[macro_export]
macro_rules! __select {
    (@parse [$($b:tt)*] [$($left:ident)*] else => $else:expr $(,)?) => {
        $crate::__select!(@emit [$($b)*] [$($left)*] $else)
    };
    (@parse [$($b:tt)*] [$($left:ident)*]) => {
        $crate::__select!(@emit [$($b)*] [$($left)*]
            ::core::panic!("select!: all branches are disabled and there is no else branch"))
    };
    (@parse [$($b:tt)*] []  $($rest:tt)+) => {
        ::core::compile_error!("select! takes at most 8 branches")
    };
    // PATTERN = FUTURE, if CONDITION => { … }
    (@parse [$($b:tt)*] [$v:ident $($left:ident)*]
        $p:pat = $f:expr, if $c:expr => $body:block $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse [$($b)* {$v, $p, $f, $c, $body}] [$($left)*] $($($rest)*)?)
    };
    (@parse [$($b:tt)*] [$v:ident $($left:ident)*]
        $p:pat = $f:expr, if $c:expr => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse [$($b)* {$v, $p, $f, $c, $body}] [$($left)*] $($rest)*)
    };
    // PATTERN = FUTURE, if CONDITION => expression,
    (@parse [$($b:tt)*] [$v:ident $($left:ident)*]
        $p:pat = $f:expr, if $c:expr => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse [$($b)* {$v, $p, $f, $c, $body}] [$($left)*] $($($rest)*)?)
    };
    // PATTERN = FUTURE => { … }
    (@parse [$($b:tt)*] [$v:ident $($left:ident)*]
        $p:pat = $f:expr => $body:block $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse [$($b)* {$v, $p, $f, true, $body}] [$($left)*] $($($rest)*)?)
    };
    (@parse [$($b:tt)*] [$v:ident $($left:ident)*]
        $p:pat = $f:expr => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse [$($b)* {$v, $p, $f, true, $body}] [$($left)*] $($rest)*)
    };
    // PATTERN = FUTURE => expression,
    (@parse [$($b:tt)*] [$v:ident $($left:ident)*]
        $p:pat = $f:expr => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse [$($b)* {$v, $p, $f, true, $body}] [$($left)*] $($($rest)*)?)
    };
    (@never $left:ident) => { $crate::__private::Never };
    (@infer $v:ident) => { _ };
    (@emit [$({$v:ident, $p:pat, $f:expr, $c:expr, $body:expr})*] [$($left:ident)*]
        $else:expr) => {{
        // Every future is evaluated first, and pinned in this block, a disabled branch's
        // as `None`; the block ends, dropping them all, before a handler runs (as in tokio,
        // so a handler may use what a future borrowed).
        let __out = {
            $(
                let mut $v = ::core::pin::pin!($f);
                #[allow(unused_mut)]
                let mut $v = if $c { ::core::option::Option::Some($v.as_mut()) } else { None };
            )*
            let __out: $crate::__private::Out<
                $($crate::__select!(@infer $v),)* $($crate::__select!(@never $left),)*
            > = ::core::future::poll_fn(|__cx| {
                let mut __pending = false;
                $(
                    if let ::core::option::Option::Some(__fut) = $v.as_mut() {
                        match ::core::future::Future::poll(__fut.as_mut(), __cx) {
                            ::core::task::Poll::Ready(__o) => {
                                $v = ::core::option::Option::None;
                                #[allow(unused_variables, unreachable_patterns)]
                                let __matches = match &__o {
                                    $p => true,
                                    _ => false,
                                };
                                if __matches {
                                    return ::core::task::Poll::Ready(
                                        $crate::__private::Out::$v(__o),
                                    );
                                }
                            }
                            ::core::task::Poll::Pending => __pending = true,
                        }
                    }
                )*
                if __pending {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready($crate::__private::Out::Disabled)
                }
            })
            .await;
            __out
        };
        #[allow(unreachable_patterns, unreachable_code)]
        match __out {
            $($crate::__private::Out::$v($p) => $body,)*
            $crate::__private::Out::Disabled => $else,
            _ => ::core::unreachable!("select!: a pattern matched by reference but not by value"),
        }
    }};
}

/// Runs several futures to completion on this task and returns their outputs as a tuple,
/// in the order written (tokio's `join!`). Each wake polls the futures not yet done, in
/// order. At most 12.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use runtime::time::sleep;
///
/// runtime::Runtime::new()?.block_on(async {
///     let (a, b) = runtime::join!(
///         async { sleep(Duration::from_millis(2)).await; 1 },
///         async { "two" },
///     );
///     assert_eq!((a, b), (1, "two"));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[macro_export]
macro_rules! join {
    ($($f:expr),+ $(,)?) => {
        $crate::__join!(@parse [] [_0 _1 _2 _3 _4 _5 _6 _7 _8 _9 _10 _11] $($f,)+)
    };
}

/// The parts of [`join!`]: names each future by the next identifier of the list.
#[doc(hidden)]
#[macro_export]
macro_rules! __join {
    (@parse [$($b:tt)*] [$($left:ident)*]) => {
        $crate::__join!(@emit $($b)*)
    };
    (@parse [$($b:tt)*] [] $($rest:tt)+) => {
        ::core::compile_error!("join! takes at most 12 futures")
    };
    (@parse [$($b:tt)*] [$v:ident $($left:ident)*] $f:expr, $($rest:tt)*) => {
        $crate::__join!(@parse [$($b)* {$v; $f}] [$($left)*] $($rest)*)
    };
    (@emit $({$v:ident; $f:expr})*) => {{
        // Each future pinned here, beside the place for its output.
        $(let mut $v = (::core::pin::pin!($f), ::core::option::Option::None);)*
        ::core::future::poll_fn(|__cx| {
            $(
                if $v.1.is_none() {
                    if let ::core::task::Poll::Ready(__o) =
                        ::core::future::Future::poll($v.0.as_mut(), __cx)
                    {
                        $v.1 = ::core::option::Option::Some(__o);
                    }
                }
            )*
            if true $(&& $v.1.is_some())* {
                ::core::task::Poll::Ready(($($v.1.take().expect("checked above"),)*))
            } else {
                ::core::task::Poll::Pending
            }
        })
        .await
    }};
}

/// What the macros' expansions name: not API.
#[doc(hidden)]
pub mod __private {
    /// Which `select!` branch completed, with its output; `Disabled` when none is left.
    pub enum Out<T0, T1, T2, T3, T4, T5, T6, T7> {
        _0(T0),
        _1(T1),
        _2(T2),
        _3(T3),
        _4(T4),
        _5(T5),
        _6(T6),
        _7(T7),
        Disabled,
    }

    /// The output type of a `select!` branch that does not exist.
    pub enum Never {}
}
