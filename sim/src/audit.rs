//! Opt-in invariant audit of every flow network on this thread, for deterministic
//! simulation testing: while it is on, each [`crate::FlowNet::settle`] checks that no
//! resource carries more than its usable capacity, and each time a network falls idle
//! that every byte started over a resource has crossed it (bytes conserved per resource).
//! A workload's simulation runs unchanged; the test reads the first violation afterwards
//! with [`take_failure`]. Off by default: it costs a pass over the resources per settle.

use std::cell::{Cell, RefCell};

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static FAILURE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Turns the audit on or off for the flow networks of this thread.
pub fn enable(on: bool) {
    ON.with(|c| c.set(on));
}

/// The first violation seen on this thread since the last call, if any.
pub fn take_failure() -> Option<String> {
    FAILURE.with(|f| f.borrow_mut().take())
}

pub(crate) fn on() -> bool {
    ON.with(Cell::get)
}

/// Records a violation (the first one is kept: later ones usually follow from it).
pub(crate) fn fail(why: impl FnOnce() -> String) {
    FAILURE.with(|f| {
        let mut f = f.borrow_mut();
        if f.is_none() {
            *f = Some(why());
        }
    });
}
