//! Reading ultrasound video clips safely with the ffmpeg command-line tools.
//!
//! Lung ultrasound arrives as short clips in whatever container the scanner or the teaching
//! site wrote: MP4, QuickTime, AVI, MPEG, animated GIF. This crate takes one clip's bytes
//! and gives back a de-identified copy of the video, its geometry and timing, a handful of
//! decoded frames for thumbnails, fingerprints and review, and a flag for burned-in text.
//! Decoding and encoding are done by the `ffmpeg` and `ffprobe` programs (Debian package
//! `ffmpeg`, version 5.1 or later); nothing is linked.
//!
//! ```text
//! pub fn sniff(bytes: &[u8]) -> Option<Container>;
//! pub fn read_clip(bytes: &[u8], limits: &ClipLimits) -> Result<Clip, ClipError>;
//! pub fn read_clip_in(bytes: &[u8], limits: &ClipLimits, temp_parent: &Path) -> Result<Clip, ClipError>;
//!
//! pub enum Container { Mp4, Mov, Avi, Mpeg, Gif, WebM }
//! pub struct ClipLimits { max_bytes: u64, timeout: Duration, max_frames: u64, samples: usize,
//!                         max_side: u32, max_video_side: u32 }        // Default: see below
//! pub struct Clip { container, video: Vec<u8>, width, height, frames: u64, fps: f64,
//!                   duration_s: f64, samples: Vec<image::RgbImage>, text_band: Option<TextBand>,
//!                   decode_errors: Option<String> }
//! pub struct TextBand { top: u32, bottom: u32, why: String }
//! pub enum ClipError { TooLarge, TooLong, Dimensions, Timeout, NotAClip, Ffmpeg, OutputTooLarge,
//!                      MissingTool, Io }
//! ```
//!
//! # What [`read_clip`] does
//!
//! 1. Refuses input over [`ClipLimits::max_bytes`], then recognises the container by its
//!    magic bytes ([`sniff`]); anything else is [`ClipError::NotAClip`].
//! 2. Writes the bytes to a private temporary directory (mode 0700, created afresh for each
//!    call and removed when the call returns, on success and on every error).
//! 3. Probes the first video stream with `ffprobe`; no video stream is
//!    [`ClipError::NotAClip`], a side over [`ClipLimits::max_video_side`] is
//!    [`ClipError::Dimensions`].
//! 4. Re-encodes the first video stream to the de-identified clip ([`Clip::video`]), at most
//!    `max_frames + 1` frames; more than `max_frames` is [`ClipError::TooLong`].
//! 5. Reads that output's size, frame count and duration from its MP4 boxes.
//! 6. Decodes [`ClipLimits::samples`] evenly spaced frames *from the de-identified video*
//!    (so what is sampled is what is published) to `rgb24` on stdout, scaled so the longest
//!    side is at most [`ClipLimits::max_side`].
//! 7. Looks for burned-in text in those frames ([`TextBand`]).
//!
//! A damaged input that ffmpeg can still decode in part gives a shorter clip with
//! [`Clip::decode_errors`] set: whether to keep it is the caller's decision.
//!
//! # Decisions
//!
//! **Running the tools.** Never through a shell: arguments are passed as a vector, the input
//! is a fixed file name inside the private directory (named as `file:<path>`, so no part of
//! it can be taken for a protocol or an option), the working directory is that directory,
//! the environment is emptied (so `FFREPORT` or `AV_LOG_*` cannot make ffmpeg write
//! elsewhere) and stdin is `/dev/null`. Every `ffmpeg` call has `-nostdin` and every call
//! `-hide_banner`; `ffprobe` has no `-nostdin`, its stdin is simply closed. One wall-clock
//! budget, [`ClipLimits::timeout`], covers all the calls for one clip: a child still running
//! when it runs out is killed and the call fails with [`ClipError::Timeout`]. A child's
//! stdout is kept up to the size the call needs (the child is killed past it) and only the
//! last 4 KiB of its stderr are kept. The encoded file is capped with `-fs`.
//!
//! **Nothing but the one file is opened.** Every input is read with the demuxer that
//! [`sniff`] chose (`-f mov|avi|mpeg|mpegvideo|gif|matroska`), never one that ffmpeg
//! guesses, and `-format_whitelist` names that demuxer alone, which ffmpeg also applies to
//! anything nested inside the input (an AVI's embedded subtitle file is probed as a nested
//! input): so a crafted input (an HLS or `ffconcat` playlist, an SDP file, an image2
//! pattern, a playlist hidden inside an AVI) can never reach a demuxer that opens other
//! files. `-protocol_whitelist file` refuses every protocol but plain files (no network,
//! no `concat:`, `subfile:`, `pipe:` or `data:`), and QuickTime data references stay off
//! (ffmpeg's default). `pipe` is not on the list: inputs are always files here. The
//! sampling call writes to `pipe:1`, an output, which the input whitelist does not govern.
//!
//! **The de-identified clip** is MP4 with H.264 (`libx264`, `yuv420p`, CRF 18,
//! `-preset veryfast`, `-threads 1` for the encoder and the decoder: one core per clip, so
//! callers parallelise across clips): only the first video stream (`-map 0:v:0`), with
//! `-map_metadata -1 -map_chapters -1 -an -sn -dn`, so every container and stream tag,
//! chapter, audio track (voices are identity: audio is dropped on purpose), subtitle and data
//! stream is gone. Odd sizes are padded by one black row or column
//! (`pad=ceil(iw/2)*2:ceil(ih/2)*2`; frames are never scaled). `-fps_mode passthrough`
//! keeps the frames the demuxer presents, with their timestamps (after a QuickTime edit
//! list: a few MOV files lose the frames it trims), none duplicated or dropped to reach a
//! constant rate; GIF delays are kept. `-movflags +faststart` puts the index first.
//! `-fflags +bitexact -flags:v +bitexact` and bit-exact `swscale` flags keep the output free
//! of version strings and make it *deterministic*: the same input always gives
//! byte-identical output on the same ffmpeg/x264 build, which matters because the platform
//! identifies items by the SHA-256 of de-identified bytes. (A different ffmpeg or x264
//! version may encode differently; pin the build where identities must be stable.) The
//! `filter_units=remove_types=6` bitstream filter removes the H.264 SEI messages, in which
//! x264 writes its version and full option string.
//!
//! What remains in the output, all technical and written by ffmpeg whatever the input:
//! the `ftyp` brands (`isom`, minor version 512, `isomiso2avc1mp41`), the stream's
//! `language=und`, `handler_name=VideoHandler`, `vendor_id=[0][0][0][0]`, and
//! `encoder=Lavc libx264` (the 32-byte compressor name of the `avc1` sample entry, which
//! ffmpeg fills in even under bitexact; no version number). Timestamps in the `mvhd`/`tkhd`
//! boxes are zero. Pixel content is kept as it is: burned-in text is *flagged*
//! ([`Clip::text_band`]), not removed.
//!
//! **Sampled frames** are decoded from the de-identified clip with
//! `-vf select=…,scale=W:H -f rawvideo -pix_fmt rgb24 pipe:1`: frame `round(k·(n−1)/(s−1))`
//! for `k` in `0..s`, first and last included. A clip with fewer frames than samples repeats
//! frames, so [`Clip::samples`] always has exactly [`ClipLimits::samples`] images.
//!
//! **Text band** (see [`TextBand`]): a heuristic flag for a human reviewer, tuned to prefer
//! false positives to misses.
//!
//! **Not done here**: nothing is linked against libav*, so a decoder bug is ffmpeg's
//! process's problem, not ours, but ffmpeg still parses hostile input: run this where a
//! crashed or compromised child can do no harm (the caller may add a sandbox; memory is not
//! limited here beyond the input size and `max_video_side`).

mod mp4;
mod run;
mod sniff;
mod textband;

use std::ffi::OsString;
use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

pub use sniff::{Container, sniff};
pub use textband::{TextBand, detect_text_band};

use run::{Tools, check, run};

/// Bounds on what one [`read_clip`] call may cost.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipLimits {
    /// Largest input accepted, in bytes ([`ClipError::TooLarge`] past it). Default 256 MiB.
    pub max_bytes: u64,
    /// Wall-clock budget for every ffmpeg/ffprobe call of one clip together. Default 120 s.
    pub timeout: Duration,
    /// Longest clip accepted, in frames ([`ClipError::TooLong`] past it). Default 18,000
    /// (ten minutes at 30 frames per second).
    pub max_frames: u64,
    /// How many frames to sample into [`Clip::samples`] (at least 1). Default 16.
    pub samples: usize,
    /// Longest side of a sampled frame, in pixels; frames are scaled down, never up.
    /// Default 512.
    pub max_side: u32,
    /// Longest side of the input video accepted ([`ClipError::Dimensions`] past it).
    /// Default 4096.
    pub max_video_side: u32,
}

impl Default for ClipLimits {
    fn default() -> Self {
        ClipLimits {
            max_bytes: 256 << 20,
            timeout: Duration::from_secs(120),
            max_frames: 18_000,
            samples: 16,
            max_side: 512,
            max_video_side: 4096,
        }
    }
}

/// One clip, read and de-identified.
#[derive(Debug, Clone)]
pub struct Clip {
    /// The container the input was in.
    pub container: Container,
    /// The de-identified clip: MP4/H.264, re-encoded, with every container and stream tag,
    /// chapter, audio, subtitle and data stream removed. Deterministic (see the crate docs).
    pub video: Vec<u8>,
    /// Size of the de-identified video in coded pixels (the input's, padded to even
    /// numbers). A non-square pixel aspect ratio (two POCUS clips have 9:8) is kept in the
    /// stream; the samples are not stretched for it.
    pub width: u32,
    pub height: u32,
    /// Frames in the de-identified video (1 for a single-frame GIF: the caller decides).
    pub frames: u64,
    /// Average frame rate of the de-identified video (frames / duration).
    pub fps: f64,
    pub duration_s: f64,
    /// [`ClipLimits::samples`] evenly spaced frames, first and last included, decoded from
    /// [`Clip::video`] and scaled so the longest side is at most [`ClipLimits::max_side`].
    pub samples: Vec<image::RgbImage>,
    /// Suspected burned-in text, to flag the clip for review.
    pub text_band: Option<TextBand>,
    /// What ffmpeg reported (at `-v error`, the last 4 KiB) while decoding the input and
    /// encoding [`Clip::video`], if anything. A damaged or truncated AVI or MPEG decodes up
    /// to the damage and says so here; a truncated GIF just ends. None of the 97 real POCUS
    /// clips reports anything.
    pub decode_errors: Option<String>,
}

/// Why a clip could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("the clip is {size} bytes, more than the {max} allowed")]
    TooLarge { size: u64, max: u64 },
    #[error("the clip has more than {max} frames")]
    TooLong { max: u64 },
    #[error("the video is {width}×{height}, larger than {max} pixels on a side")]
    Dimensions { width: u32, height: u32, max: u32 },
    #[error("reading the clip took longer than its time limit")]
    Timeout,
    #[error("not a video clip: {0}")]
    NotAClip(String),
    #[error("{tool} failed ({status}): {stderr_tail}")]
    Ffmpeg {
        tool: &'static str,
        status: String,
        stderr_tail: String,
    },
    #[error("{tool} wrote more than the {max} bytes expected")]
    OutputTooLarge { tool: &'static str, max: u64 },
    #[error(
        "`{tool}` was not found on PATH: install the Debian package `ffmpeg` \
         (apt-get install ffmpeg), which provides both ffmpeg and ffprobe"
    )]
    MissingTool { tool: &'static str },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one clip, with its temporary directory in the system's temporary folder.
pub fn read_clip(bytes: &[u8], limits: &ClipLimits) -> Result<Clip, ClipError> {
    read_clip_in(bytes, limits, &std::env::temp_dir())
}

/// Reads one clip, with its private temporary directory created inside `temp_parent`.
pub fn read_clip_in(
    bytes: &[u8],
    limits: &ClipLimits,
    temp_parent: &Path,
) -> Result<Clip, ClipError> {
    let started = Instant::now();
    let deadline = started
        .checked_add(limits.timeout)
        .unwrap_or(started + Duration::from_secs(86_400 * 365));
    if bytes.len() as u64 > limits.max_bytes {
        return Err(ClipError::TooLarge {
            size: bytes.len() as u64,
            max: limits.max_bytes,
        });
    }
    let container = sniff(bytes).ok_or_else(|| {
        ClipError::NotAClip(
            "not a recognised video container (MP4, MOV, AVI, MPEG, GIF, WebM)".into(),
        )
    })?;
    let tools = Tools::find()?;
    let samples = limits.samples.max(1);

    // Removed when `dir` drops: on return, on `?`, and on panic.
    let dir = tempfile::Builder::new()
        .prefix("lunghub-clip-")
        .permissions(Permissions::from_mode(0o700))
        .tempdir_in(temp_parent)?;
    let input = dir.path().join("input");
    let output = dir.path().join("video.mp4");
    {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&input)?;
        file.write_all(bytes)?;
    }
    let input_url = file_url(&input);
    let output_url = file_url(&output);

    // 1. Probe the input's first video stream.
    let demuxer = container.demuxer(bytes);
    let probe = check(
        "ffprobe",
        run(
            "ffprobe",
            &tools.ffprobe,
            &args(&["-hide_banner", "-v", "error"])
                .chain_input(demuxer, &input_url)
                .chain(&[
                    "-select_streams",
                    "v:0",
                    "-show_entries",
                    "stream=codec_type,width,height",
                    "-of",
                    "default=noprint_wrappers=1",
                ]),
            dir.path(),
            deadline,
            64 * 1024,
        )?,
    )?;
    let fields = parse_fields(&probe.stdout);
    if fields.get("codec_type").map(String::as_str) != Some("video") {
        return Err(ClipError::NotAClip(format!(
            "the {} container holds no video stream",
            container.name()
        )));
    }
    let in_width: u32 = fields
        .get("width")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let in_height: u32 = fields
        .get("height")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if in_width == 0 || in_height == 0 {
        return Err(ClipError::NotAClip("the video stream has no size".into()));
    }
    if in_width > limits.max_video_side || in_height > limits.max_video_side {
        return Err(ClipError::Dimensions {
            width: in_width,
            height: in_height,
            max: limits.max_video_side,
        });
    }

    // 2. Re-encode: the de-identified clip.
    let size_cap = limits.max_bytes.saturating_mul(8).saturating_add(64 << 20);
    let max_frames_plus_one = limits.max_frames.saturating_add(1).to_string();
    let size_cap_arg = size_cap.to_string();
    let encoded = run(
        "ffmpeg",
        &tools.ffmpeg,
        &args(&[
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-v",
            "error",
            "-threads",
            "1",
        ])
        .chain_input(demuxer, &input_url)
        .chain(&[
            "-map",
            "0:v:0",
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-an",
            "-sn",
            "-dn",
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2,format=yuv420p",
            "-sws_flags",
            SWS_FLAGS,
            "-fps_mode",
            "passthrough",
            "-frames:v",
            &max_frames_plus_one,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "18",
            "-pix_fmt",
            "yuv420p",
            "-threads",
            "1",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            "-bsf:v",
            "filter_units=remove_types=6",
            "-movflags",
            "+faststart",
            "-fs",
            &size_cap_arg,
            "-f",
            "mp4",
            "-y",
        ])
        .chain_os(&output_url),
        dir.path(),
        deadline,
        64 * 1024,
    )?;
    let encoded = check("ffmpeg", encoded)?;
    let decode_errors = (!encoded.stderr_tail.is_empty()).then(|| encoded.stderr_tail.clone());
    let video = match std::fs::read(&output) {
        Ok(video) => video,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ClipError::NotAClip(format!(
                "no video frame could be decoded: {}",
                encoded.stderr_tail
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if video.len() as u64 >= size_cap {
        return Err(ClipError::OutputTooLarge {
            tool: "ffmpeg",
            max: size_cap,
        });
    }

    // 3. Size, frames and duration of the output, from its own boxes (ours, so its index is
    // trusted; no ffprobe needed). An encode that decoded no frame leaves no usable track.
    let mp4::Facts {
        width,
        height,
        frames,
        duration_s,
    } = mp4::facts(&video).unwrap_or(mp4::Facts {
        width: 0,
        height: 0,
        frames: 0,
        duration_s: 0.0,
    });
    if frames == 0 || width == 0 || height == 0 {
        return Err(ClipError::NotAClip(format!(
            "no video frame could be decoded: {}",
            encoded.stderr_tail
        )));
    }
    if frames > limits.max_frames {
        return Err(ClipError::TooLong {
            max: limits.max_frames,
        });
    }
    let fps = if duration_s > 0.0 {
        frames as f64 / duration_s
    } else {
        0.0
    };

    // 4. Sample frames from the de-identified clip.
    let wanted = sample_indices(frames, samples);
    let mut distinct = wanted.clone();
    distinct.dedup();
    let (sample_width, sample_height) = fit(width, height, limits.max_side.max(1));
    let frame_len = sample_width as usize * sample_height as usize * 3;
    let select = distinct
        .iter()
        .map(|n| format!("eq(n\\,{n})"))
        .collect::<Vec<_>>()
        .join("+");
    let filter = format!("select={select},scale={sample_width}:{sample_height}:flags={SWS_FLAGS}");
    let decoded = check(
        "ffmpeg",
        run(
            "ffmpeg",
            &tools.ffmpeg,
            &args(&[
                "-nostdin",
                "-hide_banner",
                "-nostats",
                "-v",
                "error",
                "-threads",
                "1",
            ])
            .chain_input("mov", &output_url)
            .chain(&[
                "-map",
                "0:v:0",
                "-an",
                "-sn",
                "-dn",
                "-vf",
                &filter,
                "-fps_mode",
                "passthrough",
                "-frames:v",
                &distinct.len().to_string(),
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "pipe:1",
            ]),
            dir.path(),
            deadline,
            frame_len * distinct.len(),
        )?,
    )?;
    if decoded.stdout.len() != frame_len * distinct.len() {
        return Err(ClipError::Ffmpeg {
            tool: "ffmpeg",
            status: format!(
                "decoded {} of {} sampled frames",
                decoded.stdout.len() / frame_len,
                distinct.len()
            ),
            stderr_tail: decoded.stderr_tail,
        });
    }
    let images: Vec<image::RgbImage> = decoded
        .stdout
        .chunks_exact(frame_len)
        .map(|pixels| {
            image::RgbImage::from_raw(sample_width, sample_height, pixels.to_vec())
                .expect("the buffer is exactly one frame")
        })
        .collect();
    let samples: Vec<image::RgbImage> = wanted
        .iter()
        .map(|n| {
            images[distinct
                .binary_search(n)
                .expect("every wanted index was decoded")]
            .clone()
        })
        .collect();

    // 5. Burned-in text.
    let text_band = detect_text_band(&images, height);

    drop(dir);
    Ok(Clip {
        container,
        video,
        width,
        height,
        frames,
        fps,
        duration_s,
        samples,
        text_band,
        decode_errors,
    })
}

/// Bit-exact, accurately rounded scaling and pixel-format conversion, so the same input
/// gives the same pixels whatever SIMD the CPU has.
const SWS_FLAGS: &str = "area+accurate_rnd+full_chroma_int+bitexact";

/// `s` evenly spaced frame indices in `0..n`, first and last included, ascending.
fn sample_indices(n: u64, s: usize) -> Vec<u64> {
    if s == 1 || n <= 1 {
        return vec![0; s];
    }
    (0..s as u64)
        .map(|k| ((k as f64) * ((n - 1) as f64) / ((s - 1) as f64)).round() as u64)
        .collect()
}

/// Scales `width`×`height` down so the longest side is at most `max_side`.
fn fit(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max_side {
        return (width, height);
    }
    let scale = |side: u32| {
        ((side as u64 * max_side as u64 + longest as u64 / 2) / longest as u64).max(1) as u32
    };
    (scale(width), scale(height))
}

fn file_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path.as_os_str());
    url
}

/// `key=value` lines of ffprobe's default writer; the first value of a key wins.
fn parse_fields(stdout: &[u8]) -> std::collections::HashMap<String, String> {
    let mut fields = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(stdout).lines() {
        if let Some((key, value)) = line.split_once('=') {
            fields
                .entry(key.trim().to_string())
                .or_insert_with(|| value.trim().to_string());
        }
    }
    fields
}

/// A small builder for argument vectors that mix `&str` and paths.
struct Args(Vec<OsString>);

fn args(first: &[&str]) -> Args {
    Args(first.iter().map(OsString::from).collect())
}

impl Args {
    fn chain(mut self, more: &[&str]) -> Args {
        self.0.extend(more.iter().map(OsString::from));
        self
    }
    fn chain_os(mut self, more: &OsString) -> Args {
        self.0.push(more.clone());
        self
    }
    /// One input: only plain files, read by the one demuxer named, which is also the only
    /// demuxer allowed for anything nested inside it.
    fn chain_input(self, demuxer: &str, url: &OsString) -> Args {
        self.chain(&[
            "-protocol_whitelist",
            "file",
            "-format_whitelist",
            demuxer,
            "-f",
            demuxer,
            "-i",
        ])
        .chain_os(url)
    }
}

impl std::ops::Deref for Args {
    type Target = [OsString];
    fn deref(&self) -> &[OsString] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_even_and_inclusive() {
        assert_eq!(sample_indices(100, 5), vec![0, 25, 50, 74, 99]);
        assert_eq!(sample_indices(1, 3), vec![0, 0, 0]);
        assert_eq!(sample_indices(3, 5), vec![0, 1, 1, 2, 2]);
        assert_eq!(sample_indices(10, 1), vec![0]);
        assert_eq!(sample_indices(16, 16), (0..16).collect::<Vec<_>>());
    }

    #[test]
    fn fitting_scales_down_only() {
        assert_eq!(fit(1080, 1080, 512), (512, 512));
        assert_eq!(fit(1920, 1080, 512), (512, 288));
        assert_eq!(fit(300, 200, 512), (300, 200));
        assert_eq!(fit(4000, 2, 512), (512, 1));
    }
}
