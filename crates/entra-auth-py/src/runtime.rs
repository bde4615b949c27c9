//! The Tokio runtime of one validator or client (one worker thread, shut down without waiting
//! when its owner is dropped), and the two ways Python waits for it: blocking its own thread
//! with the GIL released, or an asyncio future settled through the event loop.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_util::FutureExt as _;
use pyo3::prelude::*;

use crate::boundary::no_panic;
use crate::error::{config_error, internal_error};

/// A boxed future the runtime can take over.
pub(crate) type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How an outcome becomes a Python value: `(true, value)` or `(false, exception instance)`.
pub(crate) type Convert<T> = fn(Python<'_>, T) -> (bool, PyObject);

/// One runtime with one worker thread named `name`.
pub(crate) struct Worker {
    handle: tokio::runtime::Handle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Worker {
    /// Starts the runtime.
    pub(crate) fn start(name: &str) -> PyResult<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(|e| config_error(format!("cannot start the {name} thread: {e}")))?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// The runtime's handle (to enter it or spawn on it).
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `fut` to completion on this thread with the GIL released; a panic is caught.
    pub(crate) fn block<F>(&self, py: Python<'_>, fut: F) -> PyResult<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let handle = &self.handle;
        py.allow_threads(|| no_panic(|| handle.block_on(fut)))
            .map_err(|panic| internal_error(py, &panic))
    }

    /// Polls `fut` once here (GIL released): if it is ready, its value (or exception) at once;
    /// if it waits for I/O, the runtime takes it over and an asyncio future of `event_loop` is
    /// returned, settled with `settle(future, ok, value)` through `call_soon_threadsafe`.
    pub(crate) fn nowait<T: Send + 'static>(
        &self,
        py: Python<'_>,
        fut: Boxed<T>,
        convert: Convert<T>,
        event_loop: PyObject,
        settle: PyObject,
    ) -> PyResult<PyObject> {
        let handle = &self.handle;
        let polled = py.allow_threads(|| {
            no_panic(move || {
                let _entered = handle.enter();
                let mut fut = fut;
                let mut cx = Context::from_waker(Waker::noop());
                match fut.as_mut().poll(&mut cx) {
                    Poll::Ready(out) => Ok(out),
                    Poll::Pending => Err(fut),
                }
            })
        });
        let pending = match polled {
            Ok(Ok(out)) => {
                let (ok, value) = convert(py, out);
                return if ok {
                    Ok(value)
                } else {
                    Err(PyErr::from_value(value.into_bound(py)))
                };
            }
            Ok(Err(pending)) => pending,
            Err(panic) => return Err(internal_error(py, &panic)),
        };
        let future = event_loop.call_method0(py, "create_future")?;
        let settled = future.clone_ref(py);
        self.handle.spawn(async move {
            let out = AssertUnwindSafe(pending).catch_unwind().await;
            Python::with_gil(|py| {
                let (ok, value) = match out {
                    Ok(out) => convert(py, out),
                    Err(_) => (
                        false,
                        internal_error(py, "a task on the runtime panicked")
                            .into_value(py)
                            .into_any(),
                    ),
                };
                // A closed loop refuses the call: nobody awaits the future any more.
                let _ = event_loop.call_method1(
                    py,
                    "call_soon_threadsafe",
                    (settle, settled, ok, value),
                );
            });
        });
        Ok(future)
    }
}
