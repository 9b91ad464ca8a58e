//! TFRecord framing, checked on every record, with resynchronisation after damage.
//!
//! Format (TensorFlow `core/lib/io/record_writer.cc`):
//!
//! ```text
//! u64      length          little-endian
//! u32      masked_crc32c(length bytes)
//! [u8]     data[length]
//! u32      masked_crc32c(data)
//! ```
//!
//! The CRC is CRC-32C (Castagnoli), masked as `rotr15(crc) + 0xa282ead8` (the LevelDB mask);
//! `crc32fast` computes the IEEE polynomial and would reject every record. It is computed by
//! `crc-fast` (CRC-32/ISCSI, the same polynomial), which folds with carry-less multiplication
//! besides the CRC instruction: at the sizes of histogram records (kilobytes) three times the
//! `crc32c` crate's speed on this project's machine, and CRC-32C was 8 % of a report's time.
//! The tests check it against the `crc32c` crate at every length up to 4 KiB and a few long ones.
//!
//! Both CRCs are checked on every record. What happens on damage is where we differ from
//! TensorBoard, which marks the whole file dead on any error (`docs/format.md`, "Damage";
//! tensorflow/tensorboard#5588 and #6971 — a zero-filled tail silently drops the rest of a file):
//!
//! * a short read at the end of the file is [`RecordError::Truncated`]: the normal state of a file
//!   that is still being written, reported once per record, not as damage;
//! * a bad *data* CRC leaves the framing intact: the record is skipped and reading goes on;
//! * a bad *length* CRC (or a length no file could hold) loses the framing: we scan forward, byte
//!   by byte, for the next offset whose 12-byte header has a valid length CRC **and** whose payload
//!   CRC checks, and resume there. Runs of zero bytes are skipped in one step, since an all-zero
//!   header can never be valid. The problem is reported once, with where reading resumed.
//!
//! Memory: one reusable buffer, grown only to hold the largest record actually present in the
//! file; an untrusted length is never used to allocate beyond the bytes the file still holds.
//!
//! Resuming: a file that is still being written ends inside a record. The reader then stops
//! (`next` returns `None`) without forgetting anything: called again once the file has grown,
//! it reads on from where the source left off. [`RecordReader::checkpoint`] turns a reader into
//! a small [`Checkpoint`] — the offset of the first unread record and the bytes of the partial
//! record already read — from which [`RecordReader::resume`] continues on a source opened at
//! [`Checkpoint::read_offset`], so no byte is read twice and a record written in two pieces is
//! returned whole, once. TensorBoard's Rust server keeps the same partial-record buffer
//! (`tensorboard/data/server/tf_record.rs`).

use std::io::{self, Read};
use thiserror::Error;

/// Bytes before the payload: u64 length + u32 masked CRC of the length.
pub const HEADER_LEN: usize = 12;
/// Bytes after the payload: u32 masked CRC of the payload.
pub const FOOTER_LEN: usize = 4;
/// Largest payload we accept even when its header checks (2 GiB). TensorFlow's own writers never
/// come near; a larger length with a valid CRC is treated as damage, not allocated.
pub const MAX_RECORD_LEN: u64 = 1 << 31;
/// Largest record looked for while scanning after damage (16 MiB). Checking a candidate
/// needs its payload in memory, and a crafted file can put a header claiming a huge length at
/// every offset: without this bound the buffer would grow to the rest of the file. Histogram
/// records are kilobytes; what this can miss right after damage is an image or a graph
/// larger than 16 MiB, which histinspect skips anyway. Reading in step (no damage before)
/// accepts records up to [`MAX_RECORD_LEN`].
pub const MAX_SCANNED_RECORD_LEN: u64 = 16 << 20;
/// Initial read buffer; records larger than this grow it.
pub const DEFAULT_BUFFER: usize = 1 << 20;

/// A CRC-32C value in TFRecord's masked form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaskedCrc(pub u32);

impl MaskedCrc {
    const MASK_DELTA: u32 = 0xa282_ead8;

    /// Masked CRC-32C of `bytes`.
    pub fn compute(bytes: &[u8]) -> MaskedCrc {
        MaskedCrc::mask(crc32c(bytes))
    }

    /// Masks a raw CRC-32C.
    pub fn mask(crc: u32) -> MaskedCrc {
        MaskedCrc(crc.rotate_right(15).wrapping_add(Self::MASK_DELTA))
    }

    fn read(bytes: &[u8]) -> MaskedCrc {
        MaskedCrc(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

/// CRC-32C of `bytes` (unmasked).
fn crc32c(bytes: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(bytes)
}

/// CRC-32C of a byte string whose first part has CRC-32C `crc` and whose rest is `bytes`.
fn crc32c_append(crc: u32, bytes: &[u8]) -> u32 {
    // The state between updates is the CRC before its final inversion.
    let mut d =
        crc_fast::Digest::new_with_init_state(crc_fast::CrcAlgorithm::Crc32Iscsi, u64::from(!crc));
    d.update(bytes);
    d.finalize() as u32
}

impl std::fmt::Display for MaskedCrc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// Frames `data` as one TFRecord (used by tests and the benchmark generator).
pub fn encode_record(data: &[u8], out: &mut Vec<u8>) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&MaskedCrc::compute(&len).0.to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&MaskedCrc::compute(data).0.to_le_bytes());
}

/// What went wrong at a byte offset of the file. Only [`RecordError::Io`] ends reading a file;
/// every other variant is recovered from and the reader goes on.
#[derive(Debug, Error)]
pub enum RecordError {
    /// The file ends inside a record: normal for a file that is still being written.
    #[error("file ends inside the record at offset {offset} ({have} of {need} bytes present); normal if the file is still being written")]
    Truncated { offset: u64, have: u64, need: u64 },
    /// The length's CRC does not match; the framing was lost and we scanned for the next record.
    #[error("{} at offset {offset}: length CRC is {got}, header says {want}; {}",
        if *.zeros { "zero-filled bytes" } else { "bad length CRC" }, resume_text(.resumed_at, *.offset))]
    BadLengthCrc {
        offset: u64,
        got: MaskedCrc,
        want: MaskedCrc,
        /// The header was all zero bytes (a pre-allocated or sparse file).
        zeros: bool,
        /// Where a valid record was found again; `None` if none was before the end of the file.
        resumed_at: Option<u64>,
    },
    /// The payload's CRC does not match; the record is skipped, the next one is read.
    #[error("bad data CRC in the {length}-byte record at offset {offset}: computed {got}, stored {want}; record skipped")]
    BadDataCrc {
        offset: u64,
        length: u64,
        got: MaskedCrc,
        want: MaskedCrc,
    },
    /// The length checks but exceeds [`MAX_RECORD_LEN`]; we scanned for the next record.
    #[error("record at offset {offset} claims {length} bytes, more than the {max} we accept; {}",
        resume_text(.resumed_at, *.offset), max = MAX_RECORD_LEN)]
    TooLarge {
        offset: u64,
        length: u64,
        resumed_at: Option<u64>,
    },
    /// Reading the file failed.
    #[error("read error at offset {offset}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
}

fn resume_text(resumed_at: &Option<u64>, offset: u64) -> String {
    match resumed_at {
        Some(r) => format!("skipped {} bytes, resumed at offset {r}", r - offset),
        None => "no valid record follows; the rest of the file is unreadable".to_string(),
    }
}

impl RecordError {
    /// True when reading this file cannot go on.
    pub fn is_fatal(&self) -> bool {
        matches!(self, RecordError::Io { .. })
    }

    /// True for the normal end of a file still being written.
    pub fn is_truncation(&self) -> bool {
        matches!(self, RecordError::Truncated { .. })
    }

    /// Byte offset in the file where the problem starts.
    pub fn offset(&self) -> u64 {
        match self {
            RecordError::Truncated { offset, .. }
            | RecordError::BadLengthCrc { offset, .. }
            | RecordError::BadDataCrc { offset, .. }
            | RecordError::TooLarge { offset, .. }
            | RecordError::Io { offset, .. } => *offset,
        }
    }

    /// A stable snake_case name for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::Truncated { .. } => "truncated",
            RecordError::BadLengthCrc { zeros: true, .. } => "zero_filled",
            RecordError::BadLengthCrc { .. } => "bad_length_crc",
            RecordError::BadDataCrc { .. } => "bad_data_crc",
            RecordError::TooLarge { .. } => "too_large",
            RecordError::Io { .. } => "io",
        }
    }
}

/// One item from [`RecordReader::next`].
#[derive(Debug)]
pub enum Item<'a> {
    /// A record whose both CRCs check.
    Record { offset: u64, data: &'a [u8] },
    /// A problem; reading goes on unless it [`is_fatal`](RecordError::is_fatal).
    Problem(RecordError),
}

/// Result of looking at the bytes at the current position.
enum Frame {
    /// A complete record of `len` payload bytes, both CRCs good.
    Good(usize),
    /// Not enough bytes buffered; `need` bytes from the position would settle it.
    Need(usize),
    BadLength {
        got: MaskedCrc,
        want: MaskedCrc,
        zeros: bool,
    },
    TooLarge(u64),
    BadData {
        len: usize,
        got: MaskedCrc,
        want: MaskedCrc,
    },
}

/// Streams the records of one file through a single reusable buffer.
pub struct RecordReader<R> {
    src: R,
    buf: Vec<u8>,
    /// Valid bytes are `buf[start..end]`; `buf[start]` is at file offset `base + start`.
    start: usize,
    end: usize,
    base: u64,
    /// The source returned no more bytes during this call of `next`; cleared when `next`
    /// returns `None`, so that the next call asks the source again.
    eof: bool,
    /// An I/O error ended reading for good.
    done: bool,
    /// Lost framing and still looking for the next good record.
    scanning: bool,
    /// Offset of the incomplete record already reported as [`RecordError::Truncated`].
    reported_truncation: Option<u64>,
    /// While scanning: CRC-32Cs of the scanned bytes' prefixes, so that checking a candidate's
    /// payload costs two partial blocks, not its whole claimed length.
    scan_crcs: Option<ScanCrcs>,
    /// Bytes passed through CRC-32C so far (for the test that scanning stays linear).
    crc_work: u64,
}

/// Block size of the prefix CRCs kept while scanning.
const SCAN_BLOCK: usize = 512;

/// Prefix CRC-32Cs of the bytes from `origin` on, one per [`SCAN_BLOCK`].
///
/// Scanning after lost framing checks every offset whose 12-byte header has a valid length
/// CRC, and each such candidate claims a payload: checking its CRC directly costs its whole
/// length, and a crafted file of overlapping candidates makes that quadratic. With prefixes,
/// CRC-32C being linear, `crc(s[x..y]) = P(y) ⊕ shift(P(x), y − x)` ([`crc_shift`]): a candidate costs at
/// most two partial blocks and two combines, so a scan is linear in the bytes scanned.
#[derive(Debug, Clone)]
struct ScanCrcs {
    origin: u64,
    /// `prefix[k]` = CRC-32C of the bytes `[origin, origin + k·SCAN_BLOCK)`.
    prefix: Vec<u32>,
}

/// `crc` of a byte string followed by `n` more zero bytes, in the sense of zlib's
/// `crc32_combine`: `crc(A ‖ B) = shift(crc(A), |B|) ⊕ crc(B)`. Uses the 64 operators "append
/// 2^k zero bytes", built once (the `crc32c` crate's combine squares 32×32 matrices on every
/// call, too slow to run per candidate).
fn crc_shift(crc: u32, n: u64) -> u32 {
    type Op = [u32; 32];
    fn times(op: &Op, mut v: u32) -> u32 {
        let (mut sum, mut i) = (0, 0);
        while v != 0 {
            if v & 1 == 1 {
                sum ^= op[i];
            }
            v >>= 1;
            i += 1;
        }
        sum
    }
    fn square(op: &Op) -> Op {
        let mut out = [0; 32];
        for (o, &row) in out.iter_mut().zip(op) {
            *o = times(op, row);
        }
        out
    }
    static OPS: std::sync::OnceLock<[Op; 64]> = std::sync::OnceLock::new();
    let ops = OPS.get_or_init(|| {
        // One zero bit: the reflected CRC-32C polynomial, then a shift register.
        let mut bit = [0u32; 32];
        bit[0] = 0x82F6_3B78;
        for (n, b) in bit.iter_mut().enumerate().skip(1) {
            *b = 1 << (n - 1);
        }
        let byte = square(&square(&square(&bit)));
        let mut ops = [[0u32; 32]; 64];
        ops[0] = byte;
        for k in 1..64 {
            ops[k] = square(&ops[k - 1]);
        }
        ops
    });
    let mut c = crc;
    for (k, op) in ops.iter().enumerate() {
        if (n >> k) & 1 == 1 {
            c = times(op, c);
        }
    }
    c
}

/// Where a [`RecordReader`] stopped, to [`resume`](RecordReader::resume) from later: the
/// offset of the first unconsumed byte and the bytes from there that were already read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    offset: u64,
    pending: Vec<u8>,
    scanning: bool,
    reported_truncation: Option<u64>,
}

impl Checkpoint {
    /// A reader that has read nothing of a file yet.
    pub fn start() -> Checkpoint {
        Checkpoint::default()
    }

    /// [`Checkpoint::start`], holding its bytes in `buf` (emptied first): a reader that
    /// reads many short stretches recycles one buffer ([`RecordReader::into_buffer`]).
    pub fn start_in(mut buf: Vec<u8>) -> Checkpoint {
        buf.clear();
        Checkpoint {
            pending: buf,
            ..Checkpoint::default()
        }
    }

    /// File offset of the first byte not yet consumed (the start of a partial record).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Where the source must be opened to resume: after the bytes already held.
    pub fn read_offset(&self) -> u64 {
        self.offset + self.pending.len() as u64
    }

    /// Bytes of an incomplete record held, waiting for the rest.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

impl<R: Read> RecordReader<R> {
    pub fn new(src: R) -> Self {
        Self::with_capacity(src, DEFAULT_BUFFER)
    }

    pub fn with_capacity(src: R, capacity: usize) -> Self {
        Self::resume(src, Checkpoint::start(), capacity)
    }

    /// Reads on from `checkpoint`; `src` must be positioned at
    /// [`Checkpoint::read_offset`]. A checkpoint at offset `o` with nothing pending starts a
    /// reader at byte `o` of a file.
    pub fn resume(src: R, checkpoint: Checkpoint, capacity: usize) -> Self {
        let Checkpoint {
            offset,
            mut pending,
            scanning,
            reported_truncation,
        } = checkpoint;
        let end = pending.len();
        let size = capacity.max(HEADER_LEN + FOOTER_LEN).max(end);
        pending.resize(size, 0);
        RecordReader {
            src,
            buf: pending,
            start: 0,
            end,
            base: offset,
            eof: false,
            done: false,
            scanning,
            reported_truncation,
            scan_crcs: None,
            crc_work: 0,
        }
    }

    /// What to resume from later; the reader's buffer is given back.
    pub fn checkpoint(self) -> Checkpoint {
        Checkpoint {
            offset: self.position(),
            pending: self.buf[self.start..self.end].to_vec(),
            scanning: self.scanning,
            reported_truncation: self.reported_truncation,
        }
    }

    /// The reader's buffer, for [`Checkpoint::start_in`].
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Bytes of an incomplete record at the end of what was read so far.
    pub fn pending_len(&self) -> usize {
        if self.scanning {
            0
        } else {
            self.end - self.start
        }
    }

    /// File offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Makes at least `need` bytes available from `start`, unless the file ends first.
    /// Returns the number of bytes available (may be less than `need` only at end of file).
    fn fill(&mut self, need: usize) -> io::Result<usize> {
        while self.end - self.start < need && !self.eof {
            if self.buf.len() - self.start < need {
                // Move what is left to the front, and grow only if the record is larger. While
                // scanning, the block whose prefix CRC is not yet known stays too.
                self.extend_scan_crcs();
                let keep = self.scan_keep();
                self.buf.copy_within(keep..self.end, 0);
                self.base += keep as u64;
                self.end -= keep;
                self.start -= keep;
                if self.buf.len() - self.end == 0 {
                    // Grow by doubling as bytes actually arrive, so a length read from a damaged
                    // or still-growing file never allocates more than twice what the file holds.
                    let want = self.start + need;
                    let grown = (self.buf.len() * 2).min(want.max(self.buf.len() + 1));
                    self.buf.resize(grown, 0);
                }
            }
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.start)
    }

    /// Examines the frame at `start + at`, reading more of the file as needed.
    /// A length above `max` is [`Frame::TooLarge`].
    fn frame_at(&mut self, at: usize, max: u64) -> io::Result<Frame> {
        let have = self.fill(at + HEADER_LEN)?;
        if have < at + HEADER_LEN {
            return Ok(Frame::Need(at + HEADER_LEN));
        }
        let h = &self.buf[self.start + at..self.start + at + HEADER_LEN];
        let want = MaskedCrc::read(&h[8..12]);
        let got = MaskedCrc::compute(&h[..8]);
        if got != want {
            let zeros = h.iter().all(|&b| b == 0);
            return Ok(Frame::BadLength { got, want, zeros });
        }
        let len = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
        if len > max {
            return Ok(Frame::TooLarge(len));
        }
        let len = len as usize;
        let total = at + HEADER_LEN + len + FOOTER_LEN;
        if self.fill(total)? < total {
            return Ok(Frame::Need(total));
        }
        let p = self.start + at + HEADER_LEN;
        let want = MaskedCrc::read(&self.buf[p + len..p + len + FOOTER_LEN]);
        let got = self.payload_crc(p, len);
        if got != want {
            return Ok(Frame::BadData { len, got, want });
        }
        Ok(Frame::Good(len))
    }

    /// The first index of `buf` that must survive a compaction: `start`, or while scanning the
    /// beginning of the block whose prefix CRC is still to be computed.
    fn scan_keep(&self) -> usize {
        match &self.scan_crcs {
            Some(sc) => {
                let block = sc.origin + ((sc.prefix.len() - 1) * SCAN_BLOCK) as u64;
                let i = block.saturating_sub(self.base) as usize;
                i.min(self.start)
            }
            None => self.start,
        }
    }

    /// Computes the prefix CRCs of every complete block now in the buffer.
    fn extend_scan_crcs(&mut self) {
        let Some(sc) = &mut self.scan_crcs else {
            return;
        };
        let end = self.base + self.end as u64;
        loop {
            let k = sc.prefix.len() - 1;
            let from = sc.origin + (k * SCAN_BLOCK) as u64;
            if from < self.base || from + SCAN_BLOCK as u64 > end {
                break;
            }
            let i = (from - self.base) as usize;
            let next = crc32c_append(sc.prefix[k], &self.buf[i..i + SCAN_BLOCK]);
            sc.prefix.push(next);
            self.crc_work += SCAN_BLOCK as u64;
        }
    }

    /// Masked CRC-32C of `buf[p..p + len]`; while scanning, from the prefix CRCs.
    fn payload_crc(&mut self, p: usize, len: usize) -> MaskedCrc {
        if self.scan_crcs.is_none() || len < 4 * SCAN_BLOCK {
            self.crc_work += len as u64;
            return MaskedCrc::compute(&self.buf[p..p + len]);
        }
        self.extend_scan_crcs();
        let Some(sc) = &self.scan_crcs else {
            return MaskedCrc::compute(&self.buf[p..p + len]);
        };
        let (a, b) = (self.base + p as u64, self.base + (p + len) as u64);
        let block = SCAN_BLOCK as u64;
        if a < sc.origin {
            return MaskedCrc::compute(&self.buf[p..p + len]);
        }
        let ka = (a - sc.origin).div_ceil(block) as usize;
        let kb = ((b - sc.origin) / block) as usize;
        if ka >= kb || kb >= sc.prefix.len() {
            return MaskedCrc::compute(&self.buf[p..p + len]);
        }
        let (ma, mb) = (sc.origin + ka as u64 * block, sc.origin + kb as u64 * block);
        let idx = |x: u64| (x - self.base) as usize;
        self.crc_work += (ma - a) + (b - mb);
        let head = crc32c(&self.buf[p..idx(ma)]);
        let mid_len = (kb - ka) * SCAN_BLOCK;
        let mid = sc.prefix[kb] ^ crc_shift(sc.prefix[ka], mid_len as u64);
        let tail = crc32c(&self.buf[idx(mb)..idx(b)]);
        let crc = crc_shift(crc_shift(head, mid_len as u64) ^ mid, b - mb) ^ tail;
        MaskedCrc::mask(crc)
    }

    /// Scans forward from `start` for the next offset holding a record whose both CRCs check.
    /// Leaves `start` there and returns its file offset, or stops `HEADER_LEN - 1` bytes before
    /// the end of what the file holds now, still [`scanning`](Self::scanning), and returns
    /// `None`; when the file grows, the next call of `next` scans on from there.
    fn resync(&mut self) -> io::Result<Option<u64>> {
        self.scanning = true;
        if self.scan_crcs.is_none() {
            self.scan_crcs = Some(ScanCrcs {
                origin: self.position(),
                prefix: vec![0],
            });
        }
        // The first candidate whose length checks but whose payload runs past what the file
        // holds now: it may be a record still being written. The scan goes on past it (a
        // file that never grows must not lose the records after it), and when nothing is
        // found, stops there rather than at the end, so that a grown file checks it again.
        // Its bytes are still buffered then: `fill` discards nothing once the end is reached.
        let mut unresolved: Option<u64> = None;
        loop {
            if self.fill(HEADER_LEN)? < HEADER_LEN {
                if let Some(at) = unresolved {
                    self.start = (at - self.base) as usize;
                }
                return Ok(None);
            }
            // An all-zero header is never valid: jump over zero runs at once.
            let window = &self.buf[self.start..self.end];
            if window[..HEADER_LEN].iter().all(|&b| b == 0) {
                let nonzero = window.iter().position(|&b| b != 0);
                match nonzero {
                    Some(i) => self.start += i.saturating_sub(HEADER_LEN - 1).max(1),
                    None => self.start = self.end.saturating_sub(HEADER_LEN - 1),
                }
                continue;
            }
            match self.frame_at(0, MAX_SCANNED_RECORD_LEN)? {
                Frame::Good(_) => {
                    self.scanning = false;
                    self.scan_crcs = None;
                    return Ok(Some(self.position()));
                }
                Frame::Need(_) => {
                    unresolved.get_or_insert(self.position());
                    self.start += 1;
                }
                _ => self.start += 1,
            }
        }
    }

    /// The next record or problem; `None` once the bytes the source has now are used up. A
    /// later call reads on if the file has grown.
    #[allow(clippy::should_implement_trait)] // lending iterator: items borrow the buffer
    pub fn next(&mut self) -> Option<Item<'_>> {
        if self.done {
            return None;
        }
        if self.scanning {
            match self.resync() {
                Ok(Some(_)) => {}
                Ok(None) => return self.stop(),
                Err(source) => return self.io_problem(source),
            }
        }
        let offset = self.position();
        let frame = match self.frame_at(0, MAX_RECORD_LEN) {
            Ok(f) => f,
            Err(source) => return self.io_problem(source),
        };
        let problem = match frame {
            Frame::Good(len) => {
                let p = self.start + HEADER_LEN;
                self.start += HEADER_LEN + len + FOOTER_LEN;
                return Some(Item::Record {
                    offset,
                    data: &self.buf[p..p + len],
                });
            }
            Frame::Need(need) => {
                let have = (self.end - self.start) as u64;
                if have == 0 || self.reported_truncation == Some(offset) {
                    return self.stop();
                }
                self.reported_truncation = Some(offset);
                self.eof = false;
                RecordError::Truncated {
                    offset,
                    have,
                    need: need as u64,
                }
            }
            Frame::BadData { len, got, want } => {
                self.start += HEADER_LEN + len + FOOTER_LEN;
                RecordError::BadDataCrc {
                    offset,
                    length: len as u64,
                    got,
                    want,
                }
            }
            Frame::BadLength { got, want, zeros } => {
                self.start += 1;
                match self.resync() {
                    Ok(resumed_at) => RecordError::BadLengthCrc {
                        offset,
                        got,
                        want,
                        zeros,
                        resumed_at,
                    },
                    Err(source) => return self.io_problem(source),
                }
            }
            Frame::TooLarge(length) => {
                self.start += 1;
                match self.resync() {
                    Ok(resumed_at) => RecordError::TooLarge {
                        offset,
                        length,
                        resumed_at,
                    },
                    Err(source) => return self.io_problem(source),
                }
            }
        };
        Some(Item::Problem(problem))
    }

    /// Nothing more for now; the next call asks the source again.
    fn stop(&mut self) -> Option<Item<'_>> {
        self.eof = false;
        None
    }

    fn io_problem(&mut self, source: io::Error) -> Option<Item<'_>> {
        self.done = true;
        Some(Item::Problem(RecordError::Io {
            offset: self.position(),
            source,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header of the 24-byte first record of an event file (`Event{wall_time, file_version:
    /// "brain.Event:2"}`), from the doctest of TensorBoard's `tf_record.rs`: length 24 and its
    /// masked CRC 0x224b7fa3.
    const FIRST_HEADER: &[u8] = b"\x18\x00\x00\x00\x00\x00\x00\x00\xa3\x7f\x4b\x22";

    fn read_all(bytes: &[u8], cap: usize) -> (Vec<(u64, Vec<u8>)>, Vec<RecordError>) {
        let mut r = RecordReader::with_capacity(bytes, cap);
        let (mut recs, mut probs) = (Vec::new(), Vec::new());
        while let Some(item) = r.next() {
            match item {
                Item::Record { offset, data } => recs.push((offset, data.to_vec())),
                Item::Problem(p) => probs.push(p),
            }
        }
        (recs, probs)
    }

    fn records(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode_record(p, &mut out);
        }
        out
    }

    #[test]
    fn masked_crc_matches_known_vectors() {
        // LevelDB / TensorBoard masked_crc.rs vector.
        assert_eq!(
            MaskedCrc::compute(b"\x1a\x11CRC test, one two"),
            MaskedCrc(0x5794_d08a)
        );
        // RFC 3720 B.4: 32 zero bytes have raw CRC-32C 0x8a9136aa.
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(
            MaskedCrc::mask(0x8a91_36aa),
            MaskedCrc(0x8a91_36aau32.rotate_right(15).wrapping_add(0xa282_ead8))
        );
    }

    #[test]
    fn reads_a_first_record_with_tensorboards_length_crc() {
        // Payload: field 1 (wall_time, fixed64) = 1.5e9, field 3 (file_version) = "brain.Event:2".
        let mut payload = vec![0x09];
        payload.extend_from_slice(&1.5e9f64.to_le_bytes());
        payload.extend_from_slice(b"\x1a\x0dbrain.Event:2");
        let mut bytes = Vec::new();
        encode_record(&payload, &mut bytes);
        assert_eq!(&bytes[..HEADER_LEN], FIRST_HEADER);
        let (recs, probs) = read_all(&bytes, 64);
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(recs, vec![(0, payload)]);
    }

    #[test]
    fn records_larger_than_the_buffer_and_empty_records_are_read() {
        let big = vec![7u8; 5000];
        let bytes = records(&[b"a", &big, b"", b"xyz"]);
        let (recs, probs) = read_all(&bytes, 16);
        assert!(probs.is_empty());
        let lens: Vec<usize> = recs.iter().map(|r| r.1.len()).collect();
        assert_eq!(lens, vec![1, 5000, 0, 3]);
        assert_eq!(recs[1].0, 17);
        assert_eq!(recs[2].0, 17 + 16 + 5000);
    }

    #[test]
    fn truncated_tail_is_reported_once_after_the_intact_records() {
        let full = records(&[b"one", b"two"]);
        for cut in 1..(HEADER_LEN + 3 + FOOTER_LEN) {
            let bytes = &full[..full.len() - cut];
            let (recs, probs) = read_all(bytes, 8);
            assert_eq!(recs.len(), 1, "cut {cut}");
            assert_eq!(probs.len(), 1);
            assert!(probs[0].is_truncation());
            assert_eq!(probs[0].offset(), 19);
            assert!(!probs[0].is_fatal());
        }
    }

    #[test]
    fn bad_data_crc_skips_only_that_record() {
        let mut bytes = records(&[b"one", b"two", b"six"]);
        bytes[19 + HEADER_LEN] ^= 0x01; // flip a bit in "two"'s payload
        let (recs, probs) = read_all(&bytes, 1024);
        assert_eq!(
            recs.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
            vec![b"one".to_vec(), b"six".to_vec()]
        );
        assert_eq!(probs.len(), 1);
        assert_eq!(probs[0].kind(), "bad_data_crc");
        assert_eq!(probs[0].offset(), 19);
    }

    #[test]
    fn bad_length_crc_resyncs_at_the_next_good_record() {
        let mut bytes = records(&[b"one", b"two", b"six"]);
        bytes[19] ^= 0x40; // corrupt "two"'s length
        let (recs, probs) = read_all(&bytes, 1024);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1], (38, b"six".to_vec()));
        assert_eq!(probs.len(), 1);
        match &probs[0] {
            RecordError::BadLengthCrc {
                offset: 19,
                zeros: false,
                resumed_at: Some(38),
                ..
            } => {}
            p => panic!("unexpected {p:?}"),
        }
    }

    #[test]
    fn zero_filled_gap_is_skipped_and_reading_resumes() {
        // A pre-allocated region of zeros between two records (tensorboard#5588).
        let mut bytes = records(&[b"one"]);
        bytes.extend(std::iter::repeat_n(0u8, 10_000));
        let after = bytes.len() as u64;
        bytes.extend(records(&[b"two"]));
        let (recs, probs) = read_all(&bytes, 256);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].0, after);
        assert_eq!(probs.len(), 1);
        assert_eq!(probs[0].kind(), "zero_filled");
        assert_eq!(probs[0].offset(), 19);
    }

    #[test]
    fn zero_filled_tail_is_reported_with_no_resume() {
        let mut bytes = records(&[b"one"]);
        bytes.extend(std::iter::repeat_n(0u8, 4096));
        let (recs, probs) = read_all(&bytes, 100);
        assert_eq!(recs.len(), 1);
        assert_eq!(probs.len(), 1);
        match &probs[0] {
            RecordError::BadLengthCrc {
                zeros: true,
                resumed_at: None,
                offset: 19,
                ..
            } => {}
            p => panic!("unexpected {p:?}"),
        }
    }

    #[test]
    fn absurd_length_with_valid_crc_never_allocates() {
        let mut bytes = Vec::new();
        let len = (1u64 << 62).to_le_bytes();
        bytes.extend_from_slice(&len);
        bytes.extend_from_slice(&MaskedCrc::compute(&len).0.to_le_bytes());
        bytes.extend_from_slice(b"junk");
        bytes.extend(records(&[b"ok"]));
        let (recs, probs) = read_all(&bytes, 64);
        assert_eq!(recs, vec![(16, b"ok".to_vec())]);
        assert_eq!(probs[0].kind(), "too_large");
    }

    #[test]
    fn valid_length_beyond_end_of_file_is_truncation_without_allocation() {
        // 1 GiB claimed, 4 bytes present: the buffer never grows past what the file holds.
        let mut bytes = Vec::new();
        let len = (1u64 << 30).to_le_bytes();
        bytes.extend_from_slice(&len);
        bytes.extend_from_slice(&MaskedCrc::compute(&len).0.to_le_bytes());
        bytes.extend_from_slice(b"part");
        let mut r = RecordReader::with_capacity(&bytes[..], 64);
        match r.next() {
            Some(Item::Problem(RecordError::Truncated {
                offset: 0,
                have: 16,
                ..
            })) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(r.buf.len() <= 4096, "buffer is {}", r.buf.len());
    }

    #[test]
    fn empty_input_gives_nothing() {
        let (recs, probs) = read_all(b"", 64);
        assert!(recs.is_empty() && probs.is_empty());
    }

    /// Reads `bytes` as a file that grows to each of `cuts` in turn, resuming from a checkpoint
    /// each time, as a watcher polling a file being written would.
    fn read_growing(bytes: &[u8], cuts: &[usize]) -> (Vec<(u64, Vec<u8>)>, Vec<RecordError>) {
        let (mut recs, mut probs) = (Vec::new(), Vec::new());
        let mut cp = Checkpoint::start();
        for &cut in cuts.iter().chain([&bytes.len()]) {
            let from = cp.read_offset() as usize;
            let mut r = RecordReader::resume(&bytes[from..cut], cp, 16);
            while let Some(item) = r.next() {
                match item {
                    Item::Record { offset, data } => recs.push((offset, data.to_vec())),
                    Item::Problem(p) => probs.push(p),
                }
            }
            cp = r.checkpoint();
        }
        (recs, probs)
    }

    #[test]
    fn a_growing_file_is_resumed_and_every_record_is_seen_once() {
        let payloads: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 10 + 7 * i as usize]).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let bytes = records(&refs);
        let want: Vec<Vec<u8>> = payloads.clone();
        // Every way of cutting the file in two, then in three at a few places.
        let mut cuttings: Vec<Vec<usize>> = (0..bytes.len()).map(|c| vec![c]).collect();
        cuttings.push(vec![5, 30, 31, 100, 140]);
        cuttings.push((0..bytes.len()).step_by(3).collect());
        for cuts in cuttings {
            let (recs, probs) = read_growing(&bytes, &cuts);
            let got: Vec<Vec<u8>> = recs.iter().map(|r| r.1.clone()).collect();
            assert_eq!(got, want, "cuts {cuts:?}");
            // A record cut by a pause in writing is only ever a notice.
            assert!(probs.iter().all(RecordError::is_truncation), "{probs:?}");
        }
    }

    #[test]
    fn a_record_written_in_two_pieces_is_read_whole_once_and_nothing_is_read_twice() {
        let bytes = records(&[b"first", b"second record", b"third"]);
        let second = 12 + 5 + 4;
        let split = second + 12 + 4; // inside the second payload
        let mut cp = Checkpoint::start();
        let mut r = RecordReader::resume(&bytes[..split], cp, 64);
        assert!(matches!(r.next(), Some(Item::Record { offset: 0, .. })));
        match r.next() {
            Some(Item::Problem(RecordError::Truncated { offset, .. })) => {
                assert_eq!(offset, second as u64)
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(r.next().is_none());
        assert!(r.next().is_none(), "the notice is given once");
        cp = r.checkpoint();
        assert_eq!(cp.offset(), second as u64);
        assert_eq!(cp.read_offset(), split as u64);
        assert_eq!(cp.pending_len(), split - second);
        // Only the bytes after the split are handed to the resumed reader.
        let mut r = RecordReader::resume(&bytes[split..], cp, 64);
        match r.next() {
            Some(Item::Record { offset, data }) => {
                assert_eq!(offset, second as u64);
                assert_eq!(data, b"second record");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            r.next(),
            Some(Item::Record { data: b"third", .. })
        ));
        assert!(r.next().is_none());
    }

    #[test]
    fn a_reader_started_at_an_offset_counts_from_there() {
        let bytes = records(&[b"one", b"two"]);
        let cp = Checkpoint {
            offset: 19,
            ..Checkpoint::start()
        };
        let mut r = RecordReader::resume(&bytes[19..], cp, 64);
        assert!(matches!(
            r.next(),
            Some(Item::Record {
                offset: 19,
                data: b"two"
            })
        ));
    }

    #[test]
    fn damage_at_the_end_of_a_growing_file_is_reported_once_and_scanning_goes_on() {
        let mut bytes = records(&[b"one"]);
        bytes.extend(std::iter::repeat_n(0u8, 300));
        let after = bytes.len() as u64;
        bytes.extend(records(&[b"two"]));
        let (recs, probs) = read_growing(&bytes, &[100, 200, 330]);
        assert_eq!(
            recs,
            vec![(0, b"one".to_vec()), (after, b"two".to_vec())],
            "{probs:?}"
        );
        let kinds: Vec<_> = probs.iter().map(RecordError::kind).collect();
        assert_eq!(kinds, vec!["zero_filled"]);
    }

    #[test]
    fn a_record_half_written_after_damage_is_waited_for_not_skipped() {
        // Damage (garbage with no valid header), then a record that is still being written
        // when the watcher polls: its header is there, its payload not yet. Found by the
        // `framing` fuzz target; the scan used to step past it and lose it.
        let mut bytes = records(&[b"one"]);
        bytes.extend((0..200u32).map(|i| (i * 37 + 11) as u8));
        let at = bytes.len() as u64;
        bytes.extend(records(&[&[7u8; 300], b"three"]));
        let full = read_all(&bytes, 64).0;
        assert_eq!(full.len(), 3);
        for cut in [at as usize + 12, at as usize + 100, at as usize + 315] {
            let (recs, _) = read_growing(&bytes, &[cut]);
            assert_eq!(recs, full, "grown at {cut}");
        }
        // A file that never grows still yields what follows a candidate that runs past its end.
        let mut bytes = records(&[b"one"]);
        bytes.extend([0xabu8; 30]); // damage, so that what follows is found by scanning
        let mut fake = Vec::new();
        encode_record(&[1u8; 5000], &mut fake);
        bytes.extend(&fake[..40]); // a header claiming 5000 bytes, cut short
        let after = bytes.len() as u64;
        bytes.extend(records(&[b"two"]));
        let (recs, _) = read_all(&bytes, 64);
        assert_eq!(recs.last(), Some(&(after, b"two".to_vec())));
    }

    #[test]
    fn scanning_never_buffers_a_claim_larger_than_the_scan_limit() {
        // Damage, then a header whose length CRC checks claiming 20 MiB over 3 MiB of junk,
        // then an intact record: the record is found, and the buffer stays small.
        let mut bytes = records(&[b"one"]);
        bytes.extend([0xabu8; 30]);
        let len = (20u64 << 20).to_le_bytes();
        bytes.extend_from_slice(&len);
        bytes.extend_from_slice(&MaskedCrc::compute(&len).0.to_le_bytes());
        bytes.extend(std::iter::repeat_n(0x5au8, 3 << 20));
        let after = bytes.len() as u64;
        bytes.extend(records(&[b"two"]));
        let mut r = RecordReader::with_capacity(&bytes[..], 4096);
        let mut found = Vec::new();
        while let Some(item) = r.next() {
            if let Item::Record { offset, data } = item {
                found.push((offset, data.to_vec()));
            }
        }
        assert_eq!(found.last(), Some(&(after, b"two".to_vec())));
        assert!(r.buf.len() < 1 << 20, "buffer grew to {}", r.buf.len());
    }

    #[test]
    fn crc32c_is_the_crc32c_crates_at_every_length_and_offset() {
        // The `crc32c` crate (SSE 4.2 / table) is the reference; ours folds with carry-less
        // multiplication above some length and so takes other paths: every length to 4 KiB
        // (each at the alignment `len mod 16`, so all 16 are met) and a few long ones, whole
        // and appended in two parts.
        let s: Vec<u8> = (0..(1u32 << 20) + 64)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        let long = [65_537, 100_003, (1 << 20) + 7];
        for len in (0..=4096).chain(long) {
            let at = len % 16;
            let b = &s[at..at + len];
            assert_eq!(crc32c(b), crc32c::crc32c(b), "length {len} at {at}");
            let cut = len / 3;
            assert_eq!(
                crc32c_append(crc32c(&b[..cut]), &b[cut..]),
                crc32c::crc32c(b),
                "length {len} appended at {cut}"
            );
        }
    }

    #[test]
    fn crc_of_a_substring_follows_from_prefix_crcs() {
        // The identity scanning relies on: crc(s[x..y]) = P(y) ^ combine(P(x), 0, y - x).
        let s: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let (x, y) = (1234, 8765);
        let (px, py) = (crc32c(&s[..x]), crc32c(&s[..y]));
        assert_eq!(py ^ crc_shift(px, (y - x) as u64), crc32c(&s[x..y]));
        for n in [0usize, 1, 7, 512, 4096, 65_537] {
            assert_eq!(
                crc_shift(px, n as u64),
                crc32c::crc32c_combine(px, 0, n),
                "shift by {n}"
            );
        }
    }

    /// A crafted file: garbage, then a valid-length header every 12 bytes, each claiming a
    /// payload that runs to near the end of the file (so each fails its payload CRC only after
    /// covering most of the file), then one real record.
    fn overlapping_candidates(n: usize) -> (Vec<u8>, u64) {
        let mut bytes = vec![0xAB; 12];
        let body = n * 12;
        let tail = records(&[b"real record"]);
        for i in 0..n {
            let claim = (body - (i + 1) * 12 + tail.len() - FOOTER_LEN) as u64;
            let len = claim.to_le_bytes();
            bytes.extend_from_slice(&len);
            bytes.extend_from_slice(&MaskedCrc::compute(&len).0.to_le_bytes());
        }
        let at = bytes.len() as u64;
        bytes.extend(tail);
        (bytes, at)
    }

    #[test]
    fn scanning_past_overlapping_candidates_is_linear_and_finds_the_record_after_them() {
        for n in [2_000, 20_000] {
            let (bytes, at) = overlapping_candidates(n);
            let mut r = RecordReader::with_capacity(&bytes[..], 1 << 16);
            let (mut recs, mut probs) = (Vec::new(), Vec::new());
            while let Some(item) = r.next() {
                match item {
                    Item::Record { offset, data } => recs.push((offset, data.to_vec())),
                    Item::Problem(p) => probs.push(p.kind()),
                }
            }
            assert_eq!(recs, vec![(at, b"real record".to_vec())], "n = {n}");
            assert_eq!(probs, vec!["bad_length_crc"]);
            // Checking each candidate's payload directly would cost ~n²·6 bytes of CRC.
            let work = r.crc_work;
            assert!(
                work < 4 * bytes.len() as u64 + n as u64 * 2 * SCAN_BLOCK as u64,
                "n = {n}: {work} bytes of CRC for a {}-byte file",
                bytes.len()
            );
        }
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic fuzz: xorshift bytes with a few real records spliced in.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..200 {
            let mut bytes = Vec::new();
            for _ in 0..(round % 7) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = (x % 300) as usize;
                bytes.extend((0..n).map(|i| (x >> (i % 56)) as u8));
                encode_record(&x.to_le_bytes(), &mut bytes);
            }
            let (recs, _) = read_all(&bytes, 32);
            assert!(recs.len() >= round % 7 / 2, "round {round}");
        }
    }
}
