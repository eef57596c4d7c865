//! `nvme`: the table on NVMe drives, read in whole pages through each drive's queue
//! server (queue depth, IOPS ceiling, latency, bandwidth), then over the drive link and
//! switch uplink; an optional LRU row cache in host DRAM in front.
//!
//! Rows with known ids: the DRAM cache filters them, their pages are deduped within the
//! fetch and spread over the drives by page number, each drive's pages split into up to
//! [`NVME_CHUNKS`] reads whose bus transfer follows its own reads (streaming). Rows known
//! only by count: each row is its own page, all read from the GPU's drive (GPU index
//! mod drives). The data lands in host DRAM on the GPU's socket and is copied to the GPU
//! in one DMA, or, with `gpudirect = true`, goes straight to the GPU (GPUDirect Storage).

use memwall_sim::{OpId, OpKind, Work};
use serde::Deserialize;

use super::{
    Attach, FetchCx, FetchRequest, FetchTier, Fetched, FieldSource, RowCache, Rows, TierError,
    TierSpec, TierStats,
};
use crate::node::NodeModel;
use crate::units::parse_bytes;
use crate::{DriveInstance, Registry, SystemSpec};

/// Chunks a drive's pages of one fetch are split into, so that the bus transfer of each
/// chunk follows its own reads (streaming) rather than the whole read.
pub const NVME_CHUNKS: u32 = 8;

/// The most drives a node is rewired with (`drives`): a 2U server holds 24 to 36 U.2
/// drives, a JBOF shelf a few dozen more.
pub const MAX_DRIVES: usize = 256;

/// Drive profile used when `drives` rewires the node without naming one.
const DEFAULT_DRIVE: &str = "samsung-pm1743";

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NvmeConfig {
    /// Drives to spread the table over (a what-if: the node is rewired with this many,
    /// round-robin over its switches); default the node's own.
    pub drives: Option<usize>,
    /// Drive profile of a rewired node (default samsung-pm1743).
    pub drive_profile: Option<String>,
    /// LRU row cache in host DRAM in front of the drives.
    pub dram_row_cache: Option<String>,
    /// GPUDirect Storage: drive to GPU without the host DRAM bounce.
    #[serde(default)]
    pub gpudirect: bool,
}

impl TierSpec for NvmeConfig {
    fn name(&self) -> &'static str {
        "nvme"
    }
    fn host_dram_bytes(&self, _table_bytes: u64) -> u64 {
        // Checked by `check` before anything is run.
        self.dram_row_cache
            .as_deref()
            .and_then(|v| parse_bytes(v).ok())
            .unwrap_or(0)
    }
    fn check(&self, src: &FieldSource) -> Result<(), TierError> {
        if let Some(n) = self.drives.filter(|n| !(1..=MAX_DRIVES).contains(n)) {
            return Err(src.error(
                "drives",
                format!("drives = {n} is out of range: 1 to {MAX_DRIVES}"),
                "drives = 8 puts eight drives on the node's switches",
            ));
        }
        if let Some(v) = &self.dram_row_cache {
            src.quantity("dram_row_cache", v, parse_bytes)?;
        }
        Ok(())
    }
    fn needs_row_ids(&self) -> bool {
        true
    }
    fn adjust_system(
        &self,
        sys: &mut SystemSpec,
        reg: &Registry,
        src: &FieldSource,
    ) -> Result<(), TierError> {
        let have = sys.node.drives.len();
        let Some(want) = self.drives.or((have > 0).then_some(have)) else {
            return Err(TierError::System {
                origin: src.origin.clone(),
                placement: "nvme",
                message: format!("{} has no NVMe drives", sys.name),
                hint: "set drives = N (and drive_profile) under [engram], or pick a system with drives".into(),
            });
        };
        if want == have && self.drive_profile.is_none() {
            return Ok(());
        }
        let name = self.drive_profile.as_deref().unwrap_or(DEFAULT_DRIVE);
        let d = reg.nvme(name).map_err(TierError::Profile)?;
        sys.node.drive = Some(d);
        let nsw = sys.node.switches.len().max(1);
        for sw in sys.node.switches.iter_mut() {
            sw.drives.clear();
        }
        sys.node.drives = (0..want)
            .map(|i| DriveInstance {
                index: i,
                switch: i % nsw,
            })
            .collect();
        for i in 0..want {
            if let Some(sw) = sys.node.switches.get_mut(i % nsw) {
                sw.drives.push(i);
            }
        }
        Ok(())
    }
    fn attach(&self, at: &mut Attach) -> Result<Box<dyn FetchTier>, TierError> {
        if at.node.drive_server.is_empty() {
            return Err(at.system_error(
                "nvme",
                format!("{} has no drives", at.system),
                "set drives = N under [engram], or pick a system with drives",
            ));
        }
        let dram_cache = match &self.dram_row_cache {
            Some(v) => {
                let bytes = at.src.quantity("dram_row_cache", v, parse_bytes)?;
                Some(RowCache::lru((bytes / at.row_bytes.max(1)) as usize))
            }
            None => None,
        };
        let page = at
            .node
            .spec
            .drive
            .as_ref()
            .map_or(4096, |d| d.page_size_bytes.max(1));
        Ok(Box::new(Nvme {
            gpudirect: self.gpudirect,
            dram_cache,
            page,
            stats: TierStats::default(),
            missed: Vec::new(),
        }))
    }
}

struct Nvme {
    gpudirect: bool,
    dram_cache: Option<RowCache>,
    page: u64,
    stats: TierStats,
    /// Scratch: the rows the DRAM cache missed.
    missed: Vec<u64>,
}

/// The drive reads and bus transfers of one fetch.
struct Reads {
    first: Option<OpId>,
    bus: Vec<OpId>,
}

impl Nvme {
    /// Pages per drive for rows known by id (after the DRAM cache), deduped.
    fn pages_by_drive(&mut self, ids: &[u64], row_bytes: u64, drives: usize) -> Vec<u32> {
        self.missed.clear();
        match self.dram_cache.as_mut() {
            Some(dc) => {
                self.missed
                    .extend(ids.iter().copied().filter(|&r| !dc.access(r)));
                self.stats.cache_hits += (ids.len() - self.missed.len()) as u64;
                self.stats.cache_lookups += ids.len() as u64;
            }
            None => self.missed.extend_from_slice(ids),
        }
        let mut pages: Vec<u64> = Vec::with_capacity(self.missed.len() * 2);
        for &r in &self.missed {
            let a = r * row_bytes;
            pages.push(a / self.page);
            let b = (a + row_bytes - 1) / self.page;
            if b != a / self.page {
                pages.push(b);
            }
        }
        pages.sort_unstable();
        pages.dedup();
        self.stats.pages_read += pages.len() as u64;
        let mut per = vec![0u32; drives];
        for &pg in &pages {
            per[(pg % drives as u64) as usize] += 1;
        }
        per
    }

    /// Per drive: its pages through the drive's queue server, then across the drive
    /// link, the switch uplink and on to DRAM (or the GPU), in up to `chunks` pieces.
    fn read(
        &self,
        cx: &mut FetchCx,
        req: &FetchRequest,
        per_drive: &[u32],
        chunks: u32,
    ) -> Result<Reads, TierError> {
        let node: &NodeModel = cx.node;
        let socket = node.spec.gpus[req.gpu].socket;
        let storage = (cx.categories.storage, OpKind::Storage);
        let bus = (cx.categories.storage_bus, OpKind::Memory);
        let mut out = Reads {
            first: None,
            bus: Vec::new(),
        };
        for (di, &n) in per_drive.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let server = node.drive_server[di];
            let path = if self.gpudirect {
                node.drive_to_gpu(di, req.gpu)?
            } else {
                node.drive_to_host(di, socket)?
            };
            let k = n.min(chunks);
            for ci in 0..k {
                let m = n / k + u32::from(ci < n % k);
                let work = Work::Storage {
                    server,
                    requests: m,
                    bytes_per_request: self.page,
                };
                let rd = cx.add(cx.stream, storage, work, req.after.iter().copied())?;
                out.first = out.first.or(Some(rd));
                let xfer = path.transfer(m as u64 * self.page);
                out.bus.push(cx.add(cx.stream, bus, xfer, [rd])?);
            }
        }
        Ok(out)
    }
}

impl FetchTier for Nvme {
    fn fetch(&mut self, cx: &mut FetchCx, req: &FetchRequest) -> Result<Fetched, TierError> {
        let drives = cx.node.drive_server.len();
        let reads = match req.rows {
            Rows::Ids(ids) => {
                let per = self.pages_by_drive(ids, req.row_bytes, drives);
                self.read(cx, req, &per, NVME_CHUNKS)?
            }
            Rows::Count(n) => {
                self.stats.pages_read += n;
                let mut per = vec![0u32; drives];
                per[req.gpu % drives] = n as u32;
                self.read(cx, req, &per, 1)?
            }
        };
        let after = if reads.bus.is_empty() {
            req.after.clone()
        } else {
            reads.bus.clone()
        };
        let last = if self.gpudirect {
            match reads.bus[..] {
                [one] => one,
                _ => cx.add_fetch(Work::Marker, after)?,
            }
        } else {
            let socket = cx.node.spec.gpus[req.gpu].socket;
            let path = cx.node.h2d_copy(socket, req.gpu)?;
            cx.add_fetch(path.transfer(req.bytes()), after)?
        };
        Ok(Fetched {
            first: reads.first.unwrap_or(last),
            last,
            reads: reads.bus,
        })
    }
    fn stats(&self) -> TierStats {
        self.stats
    }
}
