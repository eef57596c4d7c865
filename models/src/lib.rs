//! memwall-models: the hardware. Profile schema and components built on `memwall-sim`.
