//! One subscriber's queue of the events addressed to its user.
//!
//! A user's events used to go through one `tokio::sync::broadcast` channel
//! per user, which wakes every receiver for every event. A chat message is
//! addressed to both people of its thread, so the sender's own connection
//! was woken for the message it had just sent, while its task was still
//! running: tokio then reschedules the task as a yield, and a yield always
//! wakes the other worker thread (a futex wake, a context switch, a steal
//! and a park, for nothing; W1 of BENCHMARKS.md). With one queue per
//! subscriber the hub skips the connection a message came from, and a
//! subscriber that nobody writes to holds no buffer at all (a broadcast
//! channel allocates its whole capacity up front).
//!
//! The semantics are the broadcast channel's: bounded, never blocking the
//! publisher; a subscriber that falls behind loses its oldest events and is
//! told how many first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::{ConnectionId, Published};

/// An empty queue whose buffer grew past this many slots gives it back (a
/// burst or a lag is not held for the connection's whole life).
const KEPT_SLOTS: usize = 64;

/// One subscriber's queue.
pub(super) struct Inbox {
    /// The connection the subscriber serves, if it said: chat messages sent
    /// from it are not queued (the connection has them, from its ack).
    connection: Option<ConnectionId>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Arc<Published>>,
    /// Events dropped from the front since the subscriber last read.
    missed: u64,
    waker: Option<Waker>,
}

impl Inbox {
    pub(super) fn new(connection: Option<ConnectionId>) -> Arc<Self> {
        Arc::new(Inbox {
            connection,
            state: Mutex::default(),
        })
    }

    /// Queues an event unless it came from this subscriber's connection,
    /// dropping the oldest when `capacity` are waiting; wakes the reader.
    pub(super) fn push(&self, published: &Arc<Published>, capacity: usize) {
        if published.event.sent_from(self.connection.as_ref()) {
            return;
        }
        let waker = {
            let mut state = self.state();
            if state.queue.len() >= capacity {
                state.queue.pop_front();
                state.missed += 1;
            }
            state.queue.push_back(published.clone());
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The next event, or how many were lost (`Err`) before the ones still
    /// queued.
    pub(super) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Result<Arc<Published>, u64>> {
        let mut state = self.state();
        if state.missed > 0 {
            return Poll::Ready(Err(std::mem::take(&mut state.missed)));
        }
        if let Some(published) = state.queue.pop_front() {
            if state.queue.is_empty() && state.queue.capacity() > KEPT_SLOTS {
                state.queue = VecDeque::new();
            }
            return Poll::Ready(Ok(published));
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Only short sections that cannot panic hold it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
