//! memwall-sim: the discrete-event kernel (time, event queue, resources, flows, executor,
//! timeline). Knows nothing about GPUs or LLMs.
