//! Streaming reader of Kineto / Chrome-trace JSON into compact raw records.
//!
//! serde_json drives a `DeserializeSeed` per event; each event is decoded into a few
//! stack fields, classified, and either kept as a compact record (GPU ops, launch calls,
//! annotations, flows) or dropped on the spot. Memory is therefore proportional to the
//! number of records kept, not to the file size: `python_function` and `cpu_op` events
//! (up to 90 % of a file) are never materialised, and their `args` are skipped unparsed.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufReader, Read};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::decimal::{micros_text_to_ns, DecimalError};
use super::error::{ErrorKind, KinetoError};

// ---------------------------------------------------------------------------------------
// Raw records
// ---------------------------------------------------------------------------------------

/// A Chrome-trace `pid`/`tid`: an integer, or a string such as `"Spans"` or `"stream 7"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Id {
    Num(i64),
    Str(Box<str>),
}

impl Id {
    /// The integer, or the first run of digits in the string form (`"stream 7"` -> 7).
    pub(crate) fn number(&self) -> Option<i64> {
        match self {
            Id::Num(n) => Some(*n),
            Id::Str(s) => {
                let start = s.find(|c: char| c.is_ascii_digit())?;
                let neg = s[..start].ends_with('-');
                let digits: String = s[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                let v: i64 = digits.parse().ok()?;
                Some(if neg { -v } else { v })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GpuCat {
    Kernel,
    Memcpy,
    Memset,
}

/// NCCL metadata copied from a kernel's `args`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommArgs {
    pub collective: Option<String>,
    pub in_nelems: Option<i64>,
    pub out_nelems: Option<i64>,
    pub dtype: Option<String>,
    pub group_size: Option<i64>,
    pub pg_name: Option<String>,
    pub pg_desc: Option<String>,
    pub pg_ranks: Option<Vec<u32>>,
    pub seq: Option<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawGpu {
    pub cat: GpuCat,
    pub name: u32,
    pub device: i64,
    pub stream: i64,
    pub ts: i64,
    pub dur: i64,
    pub correlation: Option<i64>,
    pub external_id: Option<i64>,
    pub bytes: Option<i64>,
    pub grid: Option<[u32; 3]>,
    pub block: Option<[u32; 3]>,
    pub graph_id: Option<i64>,
    pub comm: Option<Box<CommArgs>>,
    /// Interned (pid, tid), kept only when there is no `correlation`, to match a launch
    /// flow end.
    pub flow_key: Option<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawSync {
    pub device: i64,
    pub stream: Option<i64>,
    pub kind: Box<str>,
    pub ts: i64,
    pub dur: i64,
    pub correlation: Option<i64>,
    pub wait_on_stream: Option<i64>,
    pub wait_on_record_corr: Option<i64>,
    pub event_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawSpan {
    /// Interned (pid, tid) for CPU spans; unused for GPU annotations.
    pub thread: u32,
    pub device: i64,
    pub stream: i64,
    pub name: u32,
    pub ts: i64,
    pub dur: i64,
    pub correlation: Option<i64>,
    /// Interned (pid, tid) of a launch call without `correlation`, to match a flow start.
    pub flow_key: Option<u32>,
}

/// A framework op's recorded shapes, keyed by the external id its kernels carry.
#[derive(Debug, Clone)]
pub(crate) struct RawCpuOp {
    pub external_id: i64,
    pub name: u32,
    pub dur: i64,
    pub dims: Vec<Vec<Vec<u64>>>,
    pub types: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawFlow {
    /// Interned (pid, tid) of the flow's end point (see `RawTrace::flow_key`).
    pub key: u32,
    pub ts: i64,
    pub id: i64,
}

/// Everything kept from one file, times still relative to `base_time_ns` (added later,
/// because `baseTimeNanoseconds` may follow `traceEvents` in the file).
#[derive(Debug, Default)]
pub(crate) struct RawTrace {
    pub names: Vec<Box<str>>,
    name_ids: HashMap<Box<str>, u32>,
    pub threads: Vec<(Id, Id)>,
    thread_ids: HashMap<(Id, Id), u32>,
    flow_key_ids: HashMap<(Id, Id), u32>,
    pub gpu: Vec<RawGpu>,
    pub syncs: Vec<RawSync>,
    pub gpu_annotations: Vec<RawSpan>,
    pub cpu_annotations: Vec<RawSpan>,
    pub cpu_calls: Vec<RawSpan>,
    pub cpu_ops: Vec<RawCpuOp>,
    pub flow_starts: Vec<RawFlow>,
    pub flow_ends: Vec<RawFlow>,
    pub base_time_ns: Option<i64>,
    pub device_properties: Option<serde_json::Value>,
    pub distributed_info: Option<serde_json::Value>,
    pub trace_name: Option<String>,
    pub schema_version: Option<i64>,
    pub saw_trace_events: bool,
    pub stats: RawStats,
}

/// Counts of what was read and what was skipped, for the import report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RawStats {
    /// Every element of `traceEvents`.
    pub events: u64,
    /// Complete (`X`) events dropped because their category is not needed (cpu_op,
    /// python_function, ...).
    pub skipped_complete: u64,
    /// Events of a Chrome phase that the importer does not use (B/E, C, b/e, ...).
    pub ignored_phase: u64,
    /// `M` metadata events (process/thread names); not needed.
    pub metadata: u64,
    /// Events without `ph` (e.g. a trailing `{}`).
    pub no_phase: u64,
}

impl RawTrace {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.name_ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        let b: Box<str> = s.into();
        self.names.push(b.clone());
        self.name_ids.insert(b, id);
        id
    }

    fn thread(&mut self, pid: Id, tid: Id) -> u32 {
        let key = (pid, tid);
        if let Some(&id) = self.thread_ids.get(&key) {
            return id;
        }
        let id = self.threads.len() as u32;
        self.threads.push(key.clone());
        self.thread_ids.insert(key, id);
        id
    }

    /// A small integer for a flow end point (pid, tid).
    fn flow_key(&mut self, pid: Id, tid: Id) -> u32 {
        let n = self.flow_key_ids.len() as u32;
        *self.flow_key_ids.entry((pid, tid)).or_insert(n)
    }

    /// Drops the look-up tables that are only needed while reading.
    pub(crate) fn finish_reading(&mut self) {
        self.name_ids = HashMap::new();
        self.thread_ids = HashMap::new();
        self.flow_key_ids = HashMap::new();
    }
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// Reading state shared by the seeds: the output, a reusable name buffer, and the kind of
/// error a visitor raised, so the caller can report it.
pub(crate) struct Reader {
    pub out: RawTrace,
    name_buf: String,
    pub raised: Option<ErrorKind>,
}

impl Reader {
    pub(crate) fn new() -> Self {
        Reader {
            out: RawTrace::default(),
            name_buf: String::new(),
            raised: None,
        }
    }
}

/// Reads a whole document from `reader` (uncompressed JSON), as a stream.
///
/// Errors carry serde_json's line and column; the byte offset is left to the caller, who
/// can re-read the source (`offset_of_line_col_in`): tracking it here would cost a third
/// of the reading speed (std's `BufReader` byte fast path).
pub(crate) fn read_document<R: Read>(
    reader: R,
    file: &str,
    gzip: bool,
) -> Result<RawTrace, KinetoError> {
    let mut state = Reader::new();
    let mut de =
        serde_json::Deserializer::from_reader(BufReader::with_capacity(256 * 1024, reader));
    let result = RootSeed { r: &mut state }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Err(e) = result {
        return Err(convert_error(e, &state, file, gzip));
    }
    finish(state, file)
}

fn finish(mut state: Reader, file: &str) -> Result<RawTrace, KinetoError> {
    if !state.out.saw_trace_events {
        return Err(KinetoError::new(
            ErrorKind::Shape,
            file,
            "the root object has no `traceEvents` array",
        ));
    }
    state.out.finish_reading();
    Ok(state.out)
}

/// Reads a whole document held in memory (uncompressed JSON). serde_json's slice reader is
/// several times faster than its reader-based one.
pub(crate) fn read_slice(bytes: &[u8], file: &str) -> Result<RawTrace, KinetoError> {
    let mut state = Reader::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = RootSeed { r: &mut state }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Err(e) = result {
        let mut err = convert_error(e, &state, file, false);
        if let (Some(l), Some(c)) = (err.line, err.column) {
            err.offset = offset_of_line_col_in(bytes, l, c);
        }
        return Err(err);
    }
    finish(state, file)
}

/// Byte offset of a 1-based (line, column) position, as serde_json counts them, in a
/// stream; `None` if the stream is shorter or unreadable.
pub(crate) fn offset_of_line_col_in<R: Read>(reader: R, line: usize, column: usize) -> Option<u64> {
    let mut r = BufReader::with_capacity(64 * 1024, reader);
    let mut offset = 0u64;
    let mut cur_line = 1usize;
    while cur_line < line {
        let buf = std::io::BufRead::fill_buf(&mut r).ok()?;
        if buf.is_empty() {
            return None;
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                offset += i as u64 + 1;
                std::io::BufRead::consume(&mut r, i + 1);
                cur_line += 1;
            }
            None => {
                let n = buf.len();
                offset += n as u64;
                std::io::BufRead::consume(&mut r, n);
            }
        }
    }
    Some(offset + column.saturating_sub(1) as u64)
}

fn convert_error(e: serde_json::Error, state: &Reader, file: &str, gzip: bool) -> KinetoError {
    use serde_json::error::Category;
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full.clone(),
    };
    let kind = match e.classify() {
        Category::Io if gzip => ErrorKind::Gzip,
        Category::Io => ErrorKind::Io,
        Category::Eof => ErrorKind::Truncated,
        Category::Syntax => ErrorKind::Syntax,
        Category::Data => state.raised.unwrap_or(ErrorKind::Shape),
    };
    let message = match kind {
        ErrorKind::Gzip => format!("gzip stream is truncated or corrupt ({message})"),
        ErrorKind::Io => format!("read failed ({message})"),
        _ => message,
    };
    let mut err = KinetoError::new(kind, file, message);
    if e.line() > 0 {
        err.line = Some(e.line());
        err.column = Some(e.column());
    }
    err
}

struct RootSeed<'a> {
    r: &'a mut Reader,
}

impl<'de, 'a> DeserializeSeed<'de> for RootSeed<'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'a> Visitor<'de> for RootSeed<'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a trace object with `traceEvents`, or an array of trace events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.r.out.saw_trace_events = true;
        EventsSeed { r: self.r }.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "traceEvents" => {
                    self.r.out.saw_trace_events = true;
                    map.next_value_seed(EventsSeed { r: &mut *self.r })?;
                }
                "deviceProperties" => {
                    self.r.out.device_properties = Some(map.next_value()?);
                }
                "distributedInfo" => {
                    self.r.out.distributed_info = Some(map.next_value()?);
                }
                "baseTimeNanoseconds" => {
                    let v: LooseInt = map.next_value()?;
                    self.r.out.base_time_ns = v.0;
                }
                "traceName" => {
                    let v: serde_json::Value = map.next_value()?;
                    self.r.out.trace_name = v.as_str().map(str::to_string);
                }
                "schemaVersion" => {
                    let v: LooseInt = map.next_value()?;
                    self.r.out.schema_version = v.0;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct EventsSeed<'a> {
    r: &'a mut Reader,
}

impl<'de, 'a> DeserializeSeed<'de> for EventsSeed<'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, 'a> Visitor<'de> for EventsSeed<'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of trace events")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(EventSeed { r: &mut *self.r })?
            .is_some()
        {}
        Ok(())
    }
}

/// Chrome trace-format phases. Those the importer does not use are accepted and counted;
/// a value outside the format is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ph {
    Complete,
    FlowStart,
    FlowEnd,
    Meta,
    Unused,
}

fn parse_ph(s: &str) -> Option<Ph> {
    Some(match s {
        "X" => Ph::Complete,
        "s" => Ph::FlowStart,
        "f" => Ph::FlowEnd,
        "M" => Ph::Meta,
        // Duration B/E, instant i/I, counter C, async b/n/e and legacy S/T/p/F, flow step t,
        // sample P, object N/O/D, memory dump V/v, mark R, clock sync c, context ( ).
        "B" | "E" | "i" | "I" | "C" | "b" | "n" | "e" | "S" | "T" | "p" | "F" | "t" | "P" | "N"
        | "O" | "D" | "V" | "v" | "R" | "c" | "(" | ")" => Ph::Unused,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cat {
    Unknown,
    Gpu(GpuCat),
    Sync,
    GpuAnnotation,
    UserAnnotation,
    /// A framework op (`cpu_op`): kept only for its recorded shapes.
    CpuOp,
    Runtime,
    Driver,
    LaunchFlow,
    Other,
}

fn parse_cat(s: &str) -> Cat {
    match s {
        "kernel" | "Kernel" => Cat::Gpu(GpuCat::Kernel),
        "gpu_memcpy" | "Memcpy" => Cat::Gpu(GpuCat::Memcpy),
        "gpu_memset" | "Memset" => Cat::Gpu(GpuCat::Memset),
        "cuda_sync" => Cat::Sync,
        "gpu_user_annotation" => Cat::GpuAnnotation,
        "user_annotation" => Cat::UserAnnotation,
        "cpu_op" => Cat::CpuOp,
        "cuda_runtime" | "Runtime" => Cat::Runtime,
        "cuda_driver" | "Driver" => Cat::Driver,
        "ac2g" | "async_gpu" | "async" => Cat::LaunchFlow,
        _ => Cat::Other,
    }
}

impl Cat {
    fn wants_args(self) -> bool {
        !matches!(
            self,
            Cat::Other | Cat::UserAnnotation | Cat::GpuAnnotation | Cat::LaunchFlow
        )
    }
}

#[derive(Clone, Copy)]
enum Field {
    Ph,
    Cat,
    Name,
    Pid,
    Tid,
    Ts,
    Dur,
    Id,
    Bp,
    Args,
    Other,
}

struct FieldSeed;
impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_str(self)
    }
}
impl<'de> Visitor<'de> for FieldSeed {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(match v {
            "ph" => Field::Ph,
            "cat" => Field::Cat,
            "name" => Field::Name,
            "pid" => Field::Pid,
            "tid" => Field::Tid,
            "ts" => Field::Ts,
            "dur" => Field::Dur,
            "id" => Field::Id,
            "bp" => Field::Bp,
            "args" => Field::Args,
            _ => Field::Other,
        })
    }
}

/// Reads a string value into a reused buffer (no allocation per event).
struct StrInto<'a>(&'a mut String);
impl<'de, 'a> DeserializeSeed<'de> for StrInto<'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}
impl<'de, 'a> Visitor<'de> for StrInto<'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.clear();
        self.0.push_str(v);
        Ok(())
    }
}

/// A string value mapped through a function without allocating.
struct MapStr<F>(F);
impl<'de, T, F: FnOnce(&str) -> T> DeserializeSeed<'de> for MapStr<F> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(self)
    }
}
impl<'de, T, F: FnOnce(&str) -> T> Visitor<'de> for MapStr<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok((self.0)(v))
    }
}

/// An integer written as a JSON integer, an integral float, a decimal string or a `0x` hex
/// string. Anything else (arrays, text) reads as `None`: `args` are heterogeneous.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LooseInt(pub Option<i64>);

impl<'de> serde::Deserialize<'de> for LooseInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseIntVisitor)
    }
}
struct LooseIntVisitor;
impl<'de> Visitor<'de> for LooseIntVisitor {
    type Value = LooseInt;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<LooseInt, E> {
        Ok(LooseInt(Some(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<LooseInt, E> {
        Ok(LooseInt(i64::try_from(v).ok()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<LooseInt, E> {
        Ok(LooseInt(if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Some(v as i64)
        } else {
            None
        }))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<LooseInt, E> {
        let t = v.trim();
        let parsed = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            i64::from_str_radix(h, 16).ok()
        } else {
            t.parse::<i64>().ok()
        };
        Ok(LooseInt(parsed))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<LooseInt, E> {
        Ok(LooseInt(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<LooseInt, E> {
        Ok(LooseInt(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LooseInt, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(LooseInt(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LooseInt, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(LooseInt(None))
    }
}

/// `pid` / `tid`: an integer or a string.
struct IdVisitor;
impl<'de> Visitor<'de> for IdVisitor {
    type Value = Id;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer or a string")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
        Ok(Id::Num(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
        Ok(match i64::try_from(v) {
            Ok(n) => Id::Num(n),
            Err(_) => Id::Str(v.to_string().into()),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Id, E> {
        Ok(Id::Str(v.to_string().into()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
        Ok(Id::Str(v.into()))
    }
}
impl<'de> serde::Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IdVisitor)
    }
}

/// A `[x, y, z]` launch dimension.
#[derive(Default)]
struct Dim3(Option<[u32; 3]>);
impl<'de> serde::Deserialize<'de> for Dim3 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<LooseInt> = serde::Deserialize::deserialize(d)?;
        let get = |i: usize| {
            v.get(i)
                .and_then(|x| x.0)
                .and_then(|x| u32::try_from(x).ok())
        };
        Ok(Dim3(match (get(0), get(1), get(2)) {
            (Some(a), Some(b), Some(c)) => Some([a, b, c]),
            _ => None,
        }))
    }
}

/// A list of ranks written as a JSON array or as a string such as `"[0, 1]"`.
struct Ranks(Option<Vec<u32>>);
impl<'de> serde::Deserialize<'de> for Ranks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: serde_json::Value = serde::Deserialize::deserialize(d)?;
        Ok(Ranks(match v {
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
                .collect(),
            serde_json::Value::String(s) => s
                .split(|c: char| !c.is_ascii_digit())
                .filter(|t| !t.is_empty())
                .map(|t| t.parse::<u32>().ok())
                .collect(),
            _ => None,
        }))
    }
}

/// The `args` keys the importer uses; every other key is skipped unparsed.
#[derive(Default)]
struct Args {
    device: Option<i64>,
    stream: Option<i64>,
    correlation: Option<i64>,
    external_id: Option<i64>,
    bytes: Option<i64>,
    grid: Option<[u32; 3]>,
    block: Option<[u32; 3]>,
    graph_id: Option<i64>,
    comm: Option<Box<CommArgs>>,
    sync_kind: Option<String>,
    wait_on_stream: Option<i64>,
    wait_on_record_corr: Option<i64>,
    wait_on_event_id: Option<i64>,
    input_dims: Option<Vec<Vec<Vec<u64>>>>,
    input_types: Option<Vec<String>>,
}

struct ArgsVisitor;
impl<'de> serde::Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ArgsVisitor)
    }
}
impl<'de> Visitor<'de> for ArgsVisitor {
    type Value = Args;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an args object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Args, A::Error> {
        let mut a = Args::default();
        while let Some(k) = map.next_key_seed(MapStr(ArgKey::of))? {
            a.read(k, &mut map)?;
        }
        Ok(a)
    }
}

/// The `args` keys the importer reads.
#[derive(Clone, Copy)]
enum ArgKey {
    Device,
    Stream,
    Corr,
    Ext,
    Bytes,
    Grid,
    Block,
    Graph,
    Coll,
    InN,
    OutN,
    Dtype,
    Group,
    PgName,
    PgDesc,
    PgRanks,
    Seq,
    SyncKind,
    WaitStream,
    WaitCorr,
    WaitEvent,
    InputDims,
    InputType,
    Other,
}

impl ArgKey {
    fn of(s: &str) -> ArgKey {
        use ArgKey as K;
        match s {
            "device" | "Device" => K::Device,
            "stream" | "Stream" => K::Stream,
            "correlation" => K::Corr,
            "External id" | "external id" => K::Ext,
            "bytes" => K::Bytes,
            "grid" => K::Grid,
            "block" => K::Block,
            "graph id" => K::Graph,
            "Collective name" => K::Coll,
            "In msg nelems" => K::InN,
            "Out msg nelems" => K::OutN,
            "dtype" => K::Dtype,
            "Group size" => K::Group,
            "Process Group Name" => K::PgName,
            "Process Group Description" => K::PgDesc,
            "Process Group Ranks" => K::PgRanks,
            "Seq" => K::Seq,
            "cuda_sync_kind" => K::SyncKind,
            "wait_on_stream" => K::WaitStream,
            "wait_on_cuda_event_record_corr_id" => K::WaitCorr,
            "wait_on_cuda_event_id" => K::WaitEvent,
            "Input Dims" => K::InputDims,
            "Input type" => K::InputType,
            _ => K::Other,
        }
    }
}

/// An integer value, loosely (see [`LooseInt`]).
/// `Input Dims` of a `cpu_op`: per argument, the dims of each tensor it holds (a tensor
/// argument holds one, a tensor list several, a scalar none). `None` when any dim is not a
/// non-negative integer: a shape is used whole or not at all.
fn input_dims(v: serde_json::Value) -> Option<Vec<Vec<Vec<u64>>>> {
    let tensor = |t: &serde_json::Value| -> Option<Vec<u64>> {
        t.as_array()?.iter().map(|d| d.as_u64()).collect()
    };
    v.as_array()?
        .iter()
        .map(|arg| {
            let items = arg.as_array()?;
            if items.iter().all(|i| i.is_array()) && !items.is_empty() {
                items.iter().map(tensor).collect()
            } else if items.is_empty() {
                Some(Vec::new())
            } else {
                Some(vec![tensor(arg)?])
            }
        })
        .collect()
}

/// `Input type` of a `cpu_op`: one type name per argument.
fn input_types(v: serde_json::Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|t| t.as_str().map(str::to_string))
        .collect()
}

fn int_value<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<i64>, A::Error> {
    Ok(map.next_value::<LooseInt>()?.0)
}

/// A string value; `null` is none, any other value its JSON text.
fn string_value<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<String>, A::Error> {
    let v: serde_json::Value = map.next_value()?;
    Ok(match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    })
}

impl CommArgs {
    /// What is wrong with the NCCL metadata, if anything: a group of no ranks, or a
    /// negative element count.
    fn problem(&self) -> Option<String> {
        if let Some(g) = self.group_size.filter(|&g| g < 1) {
            return Some(format!(
                "NCCL `Group size` = {g}: a group has at least one rank"
            ));
        }
        let counts = [
            ("In msg nelems", self.in_nelems),
            ("Out msg nelems", self.out_nelems),
        ];
        counts
            .into_iter()
            .find_map(|(k, v)| v.filter(|&n| n < 0).map(|n| (k, n)))
            .map(|(k, n)| format!("NCCL `{k}` = {n}: an element count is at least 0"))
    }
}

impl Args {
    fn comm(&mut self) -> &mut CommArgs {
        self.comm.get_or_insert_with(Default::default)
    }

    /// Reads the value of key `k`.
    fn read<'de, A: MapAccess<'de>>(&mut self, k: ArgKey, map: &mut A) -> Result<(), A::Error> {
        use ArgKey as K;
        match k {
            K::Device => self.device = int_value(map)?,
            K::Stream => self.stream = int_value(map)?,
            K::Corr => self.correlation = int_value(map)?,
            K::Ext => self.external_id = int_value(map)?,
            K::Bytes => self.bytes = int_value(map)?,
            K::Grid => self.grid = map.next_value::<Dim3>()?.0,
            K::Block => self.block = map.next_value::<Dim3>()?.0,
            K::Graph => self.graph_id = int_value(map)?,
            K::Coll => self.comm().collective = string_value(map)?,
            K::InN => self.comm().in_nelems = int_value(map)?,
            K::OutN => self.comm().out_nelems = int_value(map)?,
            K::Dtype => self.comm().dtype = string_value(map)?,
            K::Group => self.comm().group_size = int_value(map)?,
            K::PgName => self.comm().pg_name = string_value(map)?,
            K::PgDesc => self.comm().pg_desc = string_value(map)?,
            K::PgRanks => self.comm().pg_ranks = map.next_value::<Ranks>()?.0,
            K::Seq => self.comm().seq = int_value(map)?,
            K::SyncKind => self.sync_kind = string_value(map)?,
            K::WaitStream => self.wait_on_stream = int_value(map)?,
            K::WaitCorr => self.wait_on_record_corr = int_value(map)?,
            K::WaitEvent => self.wait_on_event_id = int_value(map)?,
            K::InputDims => self.input_dims = input_dims(map.next_value()?),
            K::InputType => self.input_types = input_types(map.next_value()?),
            K::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct EventSeed<'a> {
    r: &'a mut Reader,
}

impl<'de, 'a> DeserializeSeed<'de> for EventSeed<'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

/// Reads a `ts`/`dur` value as text. The outer error is a read error (syntax, I/O); the
/// inner one a value that is not a decimal number.
fn time_value<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Result<i64, DecimalError>, A::Error> {
    let raw: Box<RawValue> = map.next_value()?;
    let text = raw.get();
    if text.starts_with('"') {
        // A quoted time is a string: Kineto and Chrome write numbers.
        return Ok(Err(DecimalError::NotANumber(text.to_string())));
    }
    Ok(micros_text_to_ns(text))
}

/// Notes the kind of error for the caller (`Reader::raised`) and makes serde's error.
fn fail<E: de::Error>(r: &mut Reader, kind: ErrorKind, msg: impl fmt::Display) -> E {
    r.raised = Some(kind);
    E::custom(msg)
}

impl<'de, 'a> Visitor<'de> for EventSeed<'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a trace event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let r = self.r;
        let mut ev = Event::default();
        while let Some(field) = map.next_key_seed(FieldSeed)? {
            ev.read_field(field, &mut map, r)?;
        }
        ev.record(r)
    }
}

/// The fields of one event that the importer uses (its name is read into
/// `Reader::name_buf`).
struct Event {
    ph: Option<Ph>,
    cat: Cat,
    has_name: bool,
    pid: Option<Id>,
    tid: Option<Id>,
    ts: Option<i64>,
    dur: Option<i64>,
    id: Option<i64>,
    args: Option<Args>,
}

impl Default for Event {
    fn default() -> Self {
        Event {
            ph: None,
            cat: Cat::Unknown,
            has_name: false,
            pid: None,
            tid: None,
            ts: None,
            dur: None,
            id: None,
            args: None,
        }
    }
}

impl Event {
    /// Reads the value of `field`; an unknown phase or a bad time fails the read.
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        field: Field,
        map: &mut A,
        r: &mut Reader,
    ) -> Result<(), A::Error> {
        match field {
            Field::Ph => {
                let mut bad = None;
                let p = map.next_value_seed(MapStr(|s: &str| {
                    let p = parse_ph(s);
                    if p.is_none() {
                        bad = Some(s.to_string());
                    }
                    p
                }))?;
                match p {
                    Some(p) => self.ph = Some(p),
                    None => {
                        let msg = format!("unknown phase `ph: {:?}`", bad.unwrap_or_default());
                        return Err(fail(r, ErrorKind::UnknownPhase, msg));
                    }
                }
            }
            Field::Cat => self.cat = map.next_value_seed(MapStr(parse_cat))?,
            Field::Name => {
                map.next_value_seed(StrInto(&mut r.name_buf))?;
                self.has_name = true;
            }
            Field::Pid => self.pid = Some(map.next_value()?),
            Field::Tid => self.tid = Some(map.next_value()?),
            Field::Ts => match time_value(map)? {
                Ok(v) if v < 0 => {
                    let msg = format!("negative timestamp `ts` = {v} ns");
                    return Err(fail(r, ErrorKind::BadTime, msg));
                }
                Ok(v) => self.ts = Some(v),
                Err(m) => return Err(fail(r, ErrorKind::BadTime, format!("bad `ts`: {m}"))),
            },
            Field::Dur => match time_value(map)? {
                Ok(v) if v < 0 => return Err(negative_duration(r, v)),
                Ok(v) => self.dur = Some(v),
                Err(m) => return Err(fail(r, ErrorKind::BadTime, format!("bad `dur`: {m}"))),
            },
            Field::Id => self.id = map.next_value::<LooseInt>()?.0,
            Field::Args => {
                let skip = self.ph.is_some_and(|p| p != Ph::Complete)
                    || (self.cat != Cat::Unknown && !self.cat.wants_args());
                if skip {
                    map.next_value::<IgnoredAny>()?;
                } else {
                    let a: Args = map.next_value()?;
                    if let Some(msg) = a.comm.as_deref().and_then(CommArgs::problem) {
                        return Err(fail(r, ErrorKind::BadValue, msg));
                    }
                    self.args = Some(a);
                }
            }
            Field::Bp | Field::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    /// Counts the event and keeps what the graph needs of it.
    fn record<E: de::Error>(self, r: &mut Reader) -> Result<(), E> {
        r.out.stats.events += 1;
        if let Some(d) = self.dur.filter(|&d| d < 0) {
            return Err(negative_duration(r, d));
        }
        let Some(ph) = self.ph else {
            r.out.stats.no_phase += 1;
            return Ok(());
        };
        match ph {
            Ph::Meta => r.out.stats.metadata += 1,
            Ph::Unused => r.out.stats.ignored_phase += 1,
            Ph::FlowStart | Ph::FlowEnd => self.record_flow(ph, &mut r.out),
            Ph::Complete => {
                let Some(ts) = self.ts else {
                    if self.cat == Cat::Other {
                        r.out.stats.skipped_complete += 1;
                        return Ok(());
                    }
                    let msg = "complete event (`ph: X`) without `ts`";
                    return Err(fail(r, ErrorKind::BadTime, msg));
                };
                let name: &str = if self.has_name { &r.name_buf } else { "" };
                let cat = self.cat;
                let c = Complete {
                    name,
                    ts,
                    dur: self.dur.unwrap_or(0),
                    pid: self.pid,
                    tid: self.tid,
                    a: self.args.unwrap_or_default(),
                };
                c.record(cat, &mut r.out);
            }
        }
        Ok(())
    }

    /// A launch flow's start or end (every flow of a launch-flow category, legacy `async`
    /// flows whatever their name); other flows are dropped.
    fn record_flow(self, ph: Ph, out: &mut RawTrace) {
        if self.cat != Cat::LaunchFlow {
            return;
        }
        let (Some(ts), Some(id), Some(pid), Some(tid)) = (self.ts, self.id, self.pid, self.tid)
        else {
            return;
        };
        let f = RawFlow {
            key: out.flow_key(pid, tid),
            ts,
            id,
        };
        if ph == Ph::FlowStart {
            out.flow_starts.push(f);
        } else {
            out.flow_ends.push(f);
        }
    }
}

fn negative_duration<E: de::Error>(r: &mut Reader, v: i64) -> E {
    let msg = format!("negative duration `dur` = {v} ns");
    fail(r, ErrorKind::NegativeDuration, msg)
}

/// A complete (`ph: X`) event with a start time.
struct Complete<'n> {
    name: &'n str,
    ts: i64,
    dur: i64,
    pid: Option<Id>,
    tid: Option<Id>,
    a: Args,
}

impl Complete<'_> {
    /// `args.device`, else a numeric `pid`.
    fn device(&self) -> Option<i64> {
        self.a
            .device
            .or_else(|| self.pid.as_ref().and_then(Id::number))
    }

    /// `args.stream`, else a numeric `tid`.
    fn stream(&self) -> Option<i64> {
        self.a
            .stream
            .or_else(|| self.tid.as_ref().and_then(Id::number))
    }

    fn record(self, cat: Cat, out: &mut RawTrace) {
        match cat {
            Cat::Gpu(g) => self.gpu(g, out),
            Cat::Sync => self.sync(out),
            Cat::GpuAnnotation => self.gpu_annotation(out),
            Cat::UserAnnotation | Cat::Runtime | Cat::Driver => self.cpu_span(cat, out),
            Cat::CpuOp => self.cpu_op(out),
            Cat::Unknown | Cat::Other | Cat::LaunchFlow => out.stats.skipped_complete += 1,
        }
    }

    fn gpu(self, cat: GpuCat, out: &mut RawTrace) {
        let (device, stream) = (self.device(), self.stream());
        let name = out.intern(self.name);
        let a = self.a;
        let flow_key = match (a.correlation, self.pid, self.tid) {
            (None, Some(p), Some(t)) => Some(out.flow_key(p, t)),
            _ => None,
        };
        out.gpu.push(RawGpu {
            cat,
            name,
            device: device.unwrap_or(0),
            stream: stream.unwrap_or(0),
            ts: self.ts,
            dur: self.dur,
            correlation: a.correlation,
            external_id: a.external_id,
            bytes: a.bytes,
            grid: a.grid,
            block: a.block,
            graph_id: a.graph_id,
            comm: a.comm,
            flow_key,
        });
    }

    fn sync(self, out: &mut RawTrace) {
        let (device, stream) = (self.device().unwrap_or(0), self.stream());
        let a = &self.a;
        let kind: Box<str> = a.sync_kind.as_deref().unwrap_or(self.name).into();
        out.syncs.push(RawSync {
            device,
            stream: stream.filter(|s| *s >= 0),
            kind,
            ts: self.ts,
            dur: self.dur,
            correlation: a.correlation,
            wait_on_stream: a.wait_on_stream.filter(|s| *s >= 0),
            wait_on_record_corr: a.wait_on_record_corr.filter(|s| *s >= 0),
            event_id: a.wait_on_event_id,
        });
    }

    fn gpu_annotation(self, out: &mut RawTrace) {
        let (device, stream) = (self.device(), self.stream());
        let name = out.intern(self.name);
        out.gpu_annotations.push(RawSpan {
            thread: 0,
            device: device.unwrap_or(0),
            stream: stream.unwrap_or(0),
            name,
            ts: self.ts,
            dur: self.dur,
            correlation: None,
            flow_key: None,
        });
    }

    /// A framework op with recorded shapes and an external id (what its kernels carry);
    /// others are skipped.
    fn cpu_op(self, out: &mut RawTrace) {
        let a = self.a;
        match (a.external_id, a.input_dims) {
            (Some(external_id), Some(dims)) => {
                let name = out.intern(self.name);
                out.cpu_ops.push(RawCpuOp {
                    external_id,
                    name,
                    dur: self.dur,
                    dims,
                    types: a.input_types.unwrap_or_default(),
                });
            }
            _ => out.stats.skipped_complete += 1,
        }
    }

    /// A user annotation or a runtime / driver call, on its CPU thread.
    fn cpu_span(self, cat: Cat, out: &mut RawTrace) {
        let pid = self.pid.unwrap_or(Id::Num(0));
        let tid = self.tid.unwrap_or(Id::Num(0));
        let correlation = self.a.correlation;
        let flow_key = match correlation {
            None if cat != Cat::UserAnnotation => Some(out.flow_key(pid.clone(), tid.clone())),
            _ => None,
        };
        let thread = out.thread(pid, tid);
        let name = out.intern(self.name);
        let span = RawSpan {
            thread,
            device: 0,
            stream: 0,
            name,
            ts: self.ts,
            dur: self.dur,
            correlation,
            flow_key,
        };
        if cat == Cat::UserAnnotation {
            out.cpu_annotations.push(span);
        } else {
            out.cpu_calls.push(span);
        }
    }
}
