//! memwall-reports: attribution (hidden vs exposed), CSV, plots, Chrome-trace export.
