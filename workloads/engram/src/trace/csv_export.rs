//! CSV export of a trace: one line per row read, tidy (long) format, for people who read
//! CSV and plot with pandas or a spreadsheet rather than read code.

use std::io::{Read, Write};

use super::reader::{RowsRecord, TraceReader};
use crate::error::Result;

/// Header line of the CSV export. Empty fields mean "not recorded".
pub const CSV_COLUMNS: &str = "step,layer_id,token,seq,pos,t_start_ns,t_end_ns,order,head,row";

/// Streams every row read of `reader` to `out` as CSV; returns the number of data lines.
pub fn export_csv<R: Read, W: Write>(reader: &mut TraceReader<R>, mut out: W) -> Result<u64> {
    writeln!(out, "{CSV_COLUMNS}")?;
    let columns = reader.header().config.columns as usize;
    let heads = reader.header().config.heads_per_order as usize;
    let orders = reader.header().config.orders.clone();
    let mut rec = RowsRecord::default();
    let mut lines = 0u64;
    while reader.next_record(&mut rec)? {
        let (t0, t1) = match rec.time_ns {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None => (String::new(), String::new()),
        };
        for t in 0..rec.n_tokens as usize {
            let (seq, pos) = if rec.seq.is_empty() {
                (String::new(), String::new())
            } else {
                (rec.seq[t].to_string(), rec.pos[t].to_string())
            };
            for col in 0..columns {
                writeln!(
                    out,
                    "{},{},{t},{seq},{pos},{t0},{t1},{},{},{}",
                    rec.step,
                    rec.layer_id,
                    orders[col / heads],
                    col % heads,
                    rec.rows[t * columns + col]
                )?;
                lines += 1;
            }
        }
    }
    out.flush()?;
    Ok(lines)
}
