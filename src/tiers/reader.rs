//! Reading blobs back: whole, streamed chunk by chunk, or into a local
//! file, each decoded and checked against the blob's digest.

use super::error::TierError;
use super::{BlobRef, CHUNK, Tiers};
use crate::artifact::{Codec, Tier};
use crate::digest::{Digests, Hasher};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{GetResultPayload, ObjectStoreExt};
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// What a failed decompression is called in errors.
pub(super) const DECODE: &str = "decompression";

impl Tiers {
    /// Reads a whole blob, decodes it and checks it against `expected_blake3`.
    pub async fn read_verified(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<Bytes, TierError> {
        let path = blob.path();
        let raw = match self.store(tier).get(&path).await {
            Ok(r) => r.bytes().await,
            Err(e) => Err(e),
        }
        .map_err(|e| TierError::read(tier, &path, e))?;
        let plain = match blob.codec {
            Codec::None => raw,
            Codec::Zstd => {
                let p = path.to_string();
                tokio::task::spawn_blocking(move || zstd::decode_all(raw.as_ref()))
                    .await
                    .map_err(|e| TierError::codec(DECODE, tier, &p, e))?
                    .map(Bytes::from)
                    .map_err(|e| TierError::codec(DECODE, tier, &p, e))?
            }
        };
        check(tier, &path, blob.blake3, &crate::digest::blake3_hex(&plain))?;
        Ok(plain)
    }

    /// Opens the object at `path` for reading back its original bytes,
    /// chunk by chunk, decoding `codec`.
    pub(super) async fn plain_reader_at(
        &self,
        tier: Tier,
        path: ObjectPath,
        codec: Codec,
    ) -> Result<PlainReader, TierError> {
        let got = self.store(tier).get(&path).await.map_err(|e| TierError::read(tier, &path, e))?;
        let stream = match got.payload {
            // A local file is read in large chunks; object_store's own stream
            // of a file reads 8 KiB at a time, which caps throughput.
            GetResultPayload::File(file, _) => file_chunks(file),
            GetResultPayload::Stream(stream) => stream,
        };
        let decoder = match codec {
            Codec::None => None,
            Codec::Zstd => Some(Inflate {
                raw: zstd::stream::raw::Decoder::new().map_err(|e| TierError::codec(DECODE, tier, &path, e))?,
                input: Bytes::new(),
                used: 0,
                more_output: false,
            }),
        };
        Ok(PlainReader { stream, decoder, path, tier, finished: false })
    }

    /// Opens a blob for reading back its original bytes, chunk by chunk.
    pub(super) async fn plain_reader(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<PlainReader, TierError> {
        self.plain_reader_at(tier, blob.path(), blob.codec).await
    }

    /// Opens a blob for streaming its original bytes out, checked against
    /// its digest as they pass (see [`BlobReader`]).
    pub async fn open_reader(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<BlobReader, TierError> {
        Ok(BlobReader {
            plain: self.plain_reader(tier, blob).await?,
            hasher: blake3::Hasher::new(),
            expected: blob.blake3.to_owned(),
        })
    }

    /// Streams a blob, decoded and verified, into the local file `dest`
    /// atomically, whichever store holds it: `dest` appears only once every
    /// byte has been checked against the digest.
    pub async fn read_to_file(&self, tier: Tier, blob: &BlobRef<'_>, dest: &Path) -> Result<Digests, TierError> {
        let local = |e: std::io::Error| TierError::io("write", tier, dest.display(), e);
        let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new().prefix(".strata-get-").tempfile_in(dir).map_err(local)?;
        let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(local)?);
        let mut reader = self.plain_reader(tier, blob).await?;
        let mut hasher = Hasher::default();
        while let Some(plain) = reader.next().await? {
            hasher.update(&plain);
            file.write_all(&plain).await.map_err(local)?;
        }
        file.flush().await.map_err(local)?;
        let digests = hasher.finish();
        check(tier, &blob.path(), blob.blake3, &digests.blake3)?;
        tmp.persist(dest).map_err(|e| local(e.error))?;
        Ok(digests)
    }

    /// Reads a whole blob back, decoded, and checks it against its digest,
    /// holding one chunk at a time.
    pub async fn verify(&self, tier: Tier, blob: &BlobRef<'_>) -> Result<Digests, TierError> {
        let mut reader = self.plain_reader(tier, blob).await?;
        let mut hasher = Hasher::default();
        while let Some(plain) = reader.next().await? {
            hasher.update(&plain);
        }
        let digests = hasher.finish();
        check(tier, &blob.path(), blob.blake3, &digests.blake3)?;
        Ok(digests)
    }
}

/// A blob's original bytes streamed out chunk by chunk, holding one chunk at
/// a time. Bytes cannot be checked before they are handed out, so the check
/// comes last: instead of the end, a blob that does not match its digest
/// yields [`TierError::Corrupt`], and the consumer must discard (or abort
/// sending) what it got.
pub struct BlobReader {
    plain: PlainReader,
    hasher: blake3::Hasher,
    expected: String,
}

impl BlobReader {
    /// The next chunk of original bytes; `None` once every byte was read and matched.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, TierError> {
        match self.plain.next().await? {
            Some(chunk) => {
                self.hasher.update(&chunk);
                Ok(Some(chunk))
            }
            None => {
                let found = self.hasher.finalize().to_hex().to_string();
                check(self.plain.tier, &self.plain.path, &self.expected, &found)?;
                Ok(None)
            }
        }
    }
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader").field("path", &self.plain.path).field("tier", &self.plain.tier).finish()
    }
}

/// A local file as a stream of [`CHUNK`]-sized pieces, each read on the
/// blocking pool.
fn file_chunks(file: std::fs::File) -> BoxStream<'static, object_store::Result<Bytes>> {
    futures::stream::try_unfold(Some(file), |file| async move {
        let Some(mut file) = file else { return Ok(None) };
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buf = vec![0; CHUNK];
            let mut filled = 0;
            while filled < CHUNK {
                match file.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(filled);
            Ok((file, buf))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(e) })?;
        if chunk.is_empty() {
            return Ok(None);
        }
        let next = (chunk.len() == CHUNK).then_some(file);
        Ok(Some((Bytes::from(chunk), next)))
    })
    .boxed()
}

/// A blob's original bytes, chunk by chunk (decoding compressed blobs).
pub(super) struct PlainReader {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    decoder: Option<Inflate>,
    pub(super) path: ObjectPath,
    pub(super) tier: Tier,
    finished: bool,
}

/// A zstd decoder that yields at most [`CHUNK`] bytes at a time, whatever
/// the compression ratio: a small compressed chunk can expand to gigabytes.
struct Inflate {
    raw: zstd::stream::raw::Decoder<'static>,
    /// The compressed chunk being decoded, and how much of it was consumed.
    input: Bytes,
    used: usize,
    /// The last call filled its output: the decoder may hold more.
    more_output: bool,
}

impl Inflate {
    /// Decodes from what is left of the input into at most [`CHUNK`] bytes.
    fn step(&mut self) -> std::io::Result<Vec<u8>> {
        use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
        let mut out = vec![0u8; CHUNK];
        let mut input = InBuffer::around(&self.input[self.used..]);
        let mut output = OutBuffer::around(&mut out[..]);
        self.raw.run(&mut input, &mut output)?;
        let (consumed, produced) = (input.pos(), output.pos());
        self.used += consumed;
        self.more_output = produced == CHUNK;
        out.truncate(produced);
        Ok(out)
    }
}

impl PlainReader {
    /// The next chunk of original bytes, or `None` at the end.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>, TierError> {
        if self.finished {
            return Ok(None);
        }
        let Some(d) = self.decoder.as_mut() else {
            return match self.stream.next().await {
                Some(chunk) => Ok(Some(chunk.map_err(|e| TierError::read(self.tier, &self.path, e))?)),
                None => {
                    self.finished = true;
                    Ok(None)
                }
            };
        };
        loop {
            if d.used < d.input.len() || d.more_output {
                let out = d.step().map_err(|e| TierError::codec(DECODE, self.tier, &self.path, e))?;
                if !out.is_empty() {
                    return Ok(Some(Bytes::from(out)));
                }
                continue;
            }
            match self.stream.next().await {
                Some(chunk) => {
                    d.input = chunk.map_err(|e| TierError::read(self.tier, &self.path, e))?;
                    d.used = 0;
                }
                None => {
                    // The input is spent; whatever the decoder still holds
                    // came out above. A truncated frame shows as a digest
                    // mismatch at the end.
                    self.finished = true;
                    return Ok(None);
                }
            }
        }
    }
}

/// `Ok` when what was read matches the recorded digest.
pub(super) fn check(tier: Tier, path: &ObjectPath, expected: &str, found: &str) -> Result<(), TierError> {
    if expected == found {
        Ok(())
    } else {
        Err(TierError::Corrupt { tier, path: path.to_string(), expected: expected.to_owned(), found: found.to_owned() })
    }
}
