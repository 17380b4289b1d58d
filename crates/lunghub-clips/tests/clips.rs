//! lunghub-clips against the real POCUS clips in `../shared/data` and against fixtures made
//! with ffmpeg. These tests need the `ffmpeg` and `ffprobe` programs (Debian package
//! `ffmpeg`): without them they fail, they never skip.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lunghub_clips::{Clip, ClipError, ClipLimits, Container, read_clip, read_clip_in, sniff};
use sha2::{Digest, Sha256};

/// Real clips that cannot be read, with the reason. Every other file must read.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

/// Real clips whose sampled frames are flagged for burned-in text. The POCUS clips were
/// cropped to the scan by the dataset's authors; none holds text, and none is flagged.
const FLAGGED: &[&str] = &[];

fn pocus_videos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/lus-pocus-dev/pocus_videos")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{} must exist beside the repository: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs a program and panics, naming the Debian package, if it cannot be started.
fn tool(program: &str, args: &[&str]) -> std::process::Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{program}` ({e}): install the Debian package `ffmpeg`")
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Makes a fixture with ffmpeg; `args` come between the global options and the output.
fn make(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let out = dir.join(name);
    let mut all = vec!["-nostdin", "-hide_banner", "-v", "error", "-y"];
    all.extend_from_slice(args);
    all.push(out.to_str().unwrap());
    tool("ffmpeg", &all);
    std::fs::read(out).unwrap()
}

/// `ffprobe` key=value lines for a clip's bytes.
fn probe(bytes: &[u8], entries: &str) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, bytes).unwrap();
    let output = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            entries,
            "-of",
            "default=noprint_wrappers=1",
            path.to_str().unwrap(),
        ],
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            line.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn check_clip(name: &str, clip: &Clip, limits: &ClipLimits) {
    assert!(clip.frames > 0, "{name}: no frames");
    assert!(
        clip.width >= 16 && clip.height >= 16,
        "{name}: {}×{}",
        clip.width,
        clip.height
    );
    assert!(
        clip.width <= 4096 && clip.height <= 4096,
        "{name}: {}×{}",
        clip.width,
        clip.height
    );
    assert!(
        clip.width.is_multiple_of(2) && clip.height.is_multiple_of(2),
        "{name}: odd size"
    );
    assert!(
        clip.fps > 1.0 && clip.fps < 240.0,
        "{name}: {} fps",
        clip.fps
    );
    assert!(
        clip.duration_s > 0.0 && clip.duration_s < 600.0,
        "{name}: {} s",
        clip.duration_s
    );
    assert_eq!(
        sniff(&clip.video),
        Some(Container::Mp4),
        "{name}: output is not MP4"
    );
    assert_eq!(clip.samples.len(), limits.samples, "{name}: samples");
    let (sw, sh) = clip.samples[0].dimensions();
    assert!(sw.max(sh) <= limits.max_side, "{name}: sample {sw}×{sh}");
    assert!(
        clip.samples.iter().all(|s| s.dimensions() == (sw, sh)),
        "{name}: sample sizes differ"
    );
    let aspect = clip.width as f64 / clip.height as f64;
    assert!(
        (sw as f64 / sh as f64 - aspect).abs() < 0.05,
        "{name}: sample aspect"
    );
    // Not all black: every clip shows a scan.
    let bright = clip
        .samples
        .iter()
        .map(|s| s.as_raw().iter().map(|&v| v as u64).sum::<u64>())
        .sum::<u64>();
    assert!(bright > 0, "{name}: black samples");
    assert_eq!(clip.decode_errors, None, "{name}");
}

#[test]
fn ffmpeg_and_ffprobe_are_installed() {
    for program in ["ffmpeg", "ffprobe"] {
        let output = tool(program, &["-hide_banner", "-version"]);
        let version = String::from_utf8_lossy(&output.stdout);
        println!("{}", version.lines().next().unwrap_or(""));
    }
}

#[test]
fn every_real_clip_reads() {
    let files = files_under(&pocus_videos());
    assert!(
        files.len() >= 90,
        "expected ~97 clips, found {}",
        files.len()
    );
    let limits = ClipLimits::default();
    let queue = Mutex::new(files.iter());
    let results = Mutex::new(Vec::new());
    let started = Instant::now();
    // Two workers: ffmpeg runs with one encoding thread per clip, on a 2-core machine.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let Some(path) = queue.lock().unwrap().next() else {
                        break;
                    };
                    let bytes = std::fs::read(path).unwrap();
                    let t = Instant::now();
                    let result = read_clip(&bytes, &limits);
                    results
                        .lock()
                        .unwrap()
                        .push((path.clone(), bytes.len(), t.elapsed(), result));
                }
            });
        }
    });
    let wall = started.elapsed();
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));

    let root = pocus_videos();
    let mut failures = Vec::new();
    let mut flagged = BTreeSet::new();
    let mut containers = std::collections::BTreeMap::new();
    let (mut frames, mut busy) = (0u64, Duration::ZERO);
    for (path, size, took, result) in &results {
        let name = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        busy += *took;
        match result {
            Ok(clip) => {
                check_clip(&name, clip, &limits);
                frames += clip.frames;
                *containers
                    .entry(format!("{:?}", clip.container))
                    .or_insert(0) += 1;
                println!(
                    "{name}: {:?} {size} B → {} B, {}×{}, {} frames, {:.2} fps, {:.2} s, {:.2} s to read{}",
                    clip.container,
                    clip.video.len(),
                    clip.width,
                    clip.height,
                    clip.frames,
                    clip.fps,
                    clip.duration_s,
                    took.as_secs_f64(),
                    clip.text_band
                        .as_ref()
                        .map(|b| format!(", TEXT rows {}–{}: {}", b.top, b.bottom, b.why))
                        .unwrap_or_default(),
                );
                if clip.text_band.is_some() {
                    flagged.insert(name);
                }
            }
            Err(e) => {
                println!("{name}: FAILED after {:.2} s: {e}", took.as_secs_f64());
                failures.push(name);
            }
        }
    }
    println!(
        "{} clips ({containers:?}), {frames} frames: {:.1} s wall with 2 workers, {:.2} s per clip, {:.1} ms per frame; {} flagged for text",
        results.len(),
        wall.as_secs_f64(),
        busy.as_secs_f64() / results.len() as f64,
        busy.as_secs_f64() * 1000.0 / frames as f64,
        flagged.len(),
    );
    let known: Vec<&str> = KNOWN_FAILURES.iter().map(|(name, _)| *name).collect();
    assert_eq!(failures, known, "clips that failed, against KNOWN_FAILURES");
    assert_eq!(
        flagged,
        FLAGGED.iter().map(|s| s.to_string()).collect(),
        "clips flagged for text"
    );
}

#[test]
fn the_same_clip_gives_the_same_bytes() {
    let root = pocus_videos();
    let limits = ClipLimits::default();
    for name in [
        "convex/Pneu_liftl_pneu_case3_clip3.mp4",
        "convex/Reg-Atlas-alines.gif",
        "convex/Reg_northumbria_1009_vid1.avi",
        "convex/Reg_pat1Image_133232.mpeg",
    ] {
        let bytes = std::fs::read(root.join(name)).unwrap();
        let first = read_clip(&bytes, &limits).unwrap();
        let second = read_clip(&bytes, &limits).unwrap();
        assert_eq!(sha256(&first.video), sha256(&second.video), "{name}");
        assert_eq!(first.samples, second.samples, "{name}");
        // The facts read from the output's boxes agree with ffprobe.
        let probed = probe(&first.video, "stream=width,height,nb_frames,duration");
        let field = |key: &str| probed.iter().find(|(k, _)| k == key).unwrap().1.clone();
        assert_eq!(field("width"), first.width.to_string(), "{name}");
        assert_eq!(field("height"), first.height.to_string(), "{name}");
        assert_eq!(field("nb_frames"), first.frames.to_string(), "{name}");
        let duration: f64 = field("duration").parse().unwrap();
        assert!(
            (duration - first.duration_s).abs() < 1e-3,
            "{name}: {duration} vs {}",
            first.duration_s
        );
        if name.ends_with(".gif") {
            // De-identifying the output again gives a clip of the same length and size.
            let again = read_clip(&first.video, &limits).unwrap();
            assert_eq!(again.frames, first.frames, "{name}");
            assert_eq!(
                (again.width, again.height),
                (first.width, first.height),
                "{name}"
            );
        }
    }
}

#[test]
fn planted_metadata_audio_subtitles_and_chapters_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chapters.txt"),
        ";FFMETADATA1\ntitle=CHAPTERED Jane Doe\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=CHAPTER Jane Doe\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("subs.srt"),
        "1\n00:00:00,000 --> 00:00:01,500\nSUBTITLE Jane Doe\n",
    )
    .unwrap();
    let chapters = dir.path().join("chapters.txt");
    let subs = dir.path().join("subs.srt");
    let fixtures = [
        ("planted.mp4", "mp4"),
        ("planted.mov", "mov"),
        ("planted.mkv", "matroska"),
    ];
    for (name, format) in fixtures {
        let subtitle_codec = if format == "matroska" {
            "srt"
        } else {
            "mov_text"
        };
        let bytes = make(
            dir.path(),
            name,
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=321x241:rate=25:duration=2",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=2",
                "-i",
                chapters.to_str().unwrap(),
                "-i",
                subs.to_str().unwrap(),
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-map",
                "3:s",
                "-map_chapters",
                "2",
                "-metadata",
                "title=PATIENT Jane Doe",
                "-metadata",
                "comment=MRN 12345678 born 1957-02-03",
                "-metadata",
                "artist=Dr Who, St Elsewhere Hospital",
                "-metadata",
                "creation_time=2020-03-14T10:21:00Z",
                "-metadata:s:v:0",
                "title=STREAMTAG Jane Doe",
                "-metadata:s:a:0",
                "title=AUDIOTAG Jane Doe",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv444p",
                "-c:a",
                "aac",
                "-c:s",
                subtitle_codec,
                "-f",
                format,
            ],
        );
        assert!(
            find(&bytes, b"Jane Doe"),
            "{name}: the fixture carries its tags"
        );
        let clip = read_clip(&bytes, &ClipLimits::default()).unwrap();
        assert_eq!(
            (clip.width, clip.height),
            (322, 242),
            "{name}: padded to even"
        );
        assert_eq!(clip.frames, 50, "{name}");
        for needle in [
            &b"Jane"[..],
            b"PATIENT",
            b"12345678",
            b"1957",
            b"Elsewhere",
            b"STREAMTAG",
            b"AUDIOTAG",
            b"SUBTITLE",
            b"CHAPTER",
            b"2020-03-14",
            b"Lavf",
            b"x264 - core",
            b"options:",
        ] {
            assert!(
                !find(&clip.video, needle),
                "{name}: {:?} is still in the output",
                String::from_utf8_lossy(needle)
            );
        }
        // One stream, video, and only the technical tags ffmpeg always writes.
        let streams = probe(&clip.video, "stream=index,codec_type,codec_name");
        assert_eq!(
            streams,
            [
                ("index", "0"),
                ("codec_name", "h264"),
                ("codec_type", "video")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec(),
            "{name}"
        );
        let tags = probe(&clip.video, "format_tags:stream_tags:chapters");
        let allowed: BTreeSet<&str> = [
            "TAG:major_brand",
            "TAG:minor_version",
            "TAG:compatible_brands",
            "TAG:language",
            "TAG:handler_name",
            "TAG:vendor_id",
            "TAG:encoder",
        ]
        .into();
        for (key, value) in &tags {
            assert!(
                allowed.contains(key.as_str()),
                "{name}: {key}={value} left in the output"
            );
        }
        println!("{name}: tags left {tags:?}");
        let encoder = tags
            .iter()
            .find(|(k, _)| k == "TAG:encoder")
            .map(|(_, v)| v.as_str());
        assert!(
            matches!(encoder, None | Some("Lavc libx264")),
            "{name}: encoder {encoder:?}"
        );
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Mean-free speckle that changes every frame, like a scan, in grey.
const SPECKLE: &str = "color=c=0x303030:s=400x400:r=25:d=1,noise=c0s=70:c0f=t,gblur=sigma=1.2";

/// A fixture's name, ffmpeg arguments, and the rows its text is on, if any.
type Case<'a> = (&'a str, Vec<&'a str>, Option<(u32, u32)>);

#[test]
fn burned_in_text_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let real = pocus_videos().join("convex/Reg_Avi_Video_001.mp4");
    let real = real.to_str().unwrap();
    let limits = ClipLimits::default();
    let name_on_band = format!(
        "{SPECKLE},drawbox=x=0:y=0:w=iw:h=40:color=black:t=fill,\
         drawtext=text='PATIENT JANE DOE  ID 12345678  14/03/2020':fontcolor=white:fontsize=16:x=8:y=12"
    );
    let name_over_speckle = format!(
        "{SPECKLE},drawtext=text='Jane Doe 1957-02-03':fontcolor=white:fontsize=12:x=20:y=h-24"
    );
    let cases: Vec<Case> = vec![
        (
            "band.mp4",
            vec!["-f", "lavfi", "-i", &name_on_band],
            Some((12, 23)),
        ),
        (
            "speckle.mp4",
            vec!["-f", "lavfi", "-i", &name_over_speckle],
            Some((376, 384)),
        ),
        (
            "scanner.mp4",
            vec![
                "-i",
                real,
                "-vf",
                "pad=610:658:0:48,\
                 drawtext=text='DOE^JANE  MRN 0042  2020-03-14 10\\:21':fontcolor=0xE0E0E0:fontsize=18:x=10:y=14,\
                 drawtext=text='C1-6  MI 1.2  TIS 0.4':fontcolor=yellow:fontsize=13:x=w-200:y=h-20",
            ],
            Some((14, 27)),
        ),
        (
            "initials.mp4",
            vec![
                "-i",
                real,
                "-vf",
                "pad=610:610,drawtext=text='J Doe':fontcolor=white:fontsize=11:x=8:y=h-16",
            ],
            Some((595, 601)),
        ),
        (
            "plain-speckle.mp4",
            vec!["-f", "lavfi", "-i", SPECKLE],
            None,
        ),
        (
            "plain-scan.mp4",
            vec!["-i", real, "-vf", "pad=610:610"],
            None,
        ),
    ];
    for (name, mut args, text_rows) in cases {
        args.extend(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4"]);
        let bytes = make(dir.path(), name, &args);
        let clip = read_clip(&bytes, &limits).unwrap();
        println!("{name}: {:?}", clip.text_band);
        match (text_rows, &clip.text_band) {
            (None, None) => {}
            (Some((top, bottom)), Some(band)) => {
                assert!(
                    band.top <= top
                        && band.bottom >= bottom
                        && band.bottom - band.top < clip.height / 4,
                    "{name}: band {}–{} should cover the text on rows {top}–{bottom}",
                    band.top,
                    band.bottom
                );
            }
            (expected, found) => panic!("{name}: expected text on {expected:?}, found {found:?}"),
        }
    }
}

#[test]
fn bad_inputs_give_clear_errors() {
    let limits = ClipLimits::default();
    let root = pocus_videos();
    let clip = std::fs::read(root.join("convex/Pneu_liftl_pneu_case3_clip3.mp4")).unwrap();

    // Random bytes and text are not clips.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let random: Vec<u8> = (0..100_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    assert!(matches!(
        read_clip(&random, &limits),
        Err(ClipError::NotAClip(_))
    ));
    assert!(matches!(
        read_clip(b"Patient: Jane Doe\nNot a video.\n", &limits),
        Err(ClipError::NotAClip(_))
    ));
    assert!(matches!(
        read_clip(b"", &limits),
        Err(ClipError::NotAClip(_))
    ));

    // Too large, before anything runs.
    let small = ClipLimits {
        max_bytes: 1000,
        ..ClipLimits::default()
    };
    match read_clip(&clip, &small) {
        Err(ClipError::TooLarge { size, max: 1000 }) => assert_eq!(size, clip.len() as u64),
        other => panic!("{other:?}"),
    }

    // Playlists naming a real clip, bare and behind the magic bytes of each container: the
    // bare ones are not clips; the disguised ones are read by the container's own demuxer,
    // which finds no video, and the playlist's target is never opened.
    let target = root.join("convex/Reg_liftl_case3_clip2.mp4");
    let target = target.to_str().unwrap();
    let playlists = [
        format!("ffconcat version 1.0\nfile '{target}'\n"),
        format!("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:{target}\n#EXT-X-ENDLIST\n"),
        format!("file '{target}'\n"),
    ];
    for playlist in &playlists {
        let bare = read_clip(playlist.as_bytes(), &limits);
        assert!(matches!(bare, Err(ClipError::NotAClip(_))), "{bare:?}");
        for magic in [
            &b"\0\0\0\x14ftypqt  \0\0\0\0"[..],
            b"RIFF\xff\xff\0\0AVI LIST",
            b"\0\0\x01\xba",
            b"GIF89a",
            b"\x1a\x45\xdf\xa3",
        ] {
            let mut disguised = magic.to_vec();
            disguised.extend_from_slice(playlist.as_bytes());
            let result = read_clip(&disguised, &limits);
            println!("disguised as {:?}: {result:?}", sniff(&disguised));
            assert!(
                result.is_err(),
                "a playlist behind {magic:?} was read as a clip"
            );
        }
    }
    // The sniffed demuxer is forced: an MP4 named as anything is still read as MP4, and a
    // GIF header in front of MP4 bytes is not an MP4.
    let mut gif_mp4 = b"GIF89a".to_vec();
    gif_mp4.extend_from_slice(&clip);
    assert!(read_clip(&gif_mp4, &limits).is_err());

    // A file truncated in the middle: MP4 with its index at the end loses the index.
    let truncated = read_clip(&clip[..clip.len() / 2], &limits);
    println!("truncated mp4: {truncated:?}");
    assert!(
        matches!(
            truncated,
            Err(ClipError::Ffmpeg {
                tool: "ffprobe",
                ..
            })
        ),
        "{truncated:?}"
    );
    // The other containers stream: truncated, they either give the frames before the cut or
    // a clear error; never a panic, never an empty clip.
    for name in [
        "convex/Reg_northumbria_1009_vid1.avi",
        "convex/Reg_pat1Image_133232.mpeg",
        "convex/Reg-Atlas-alines.gif",
        "convex/Cov_recommendations_likebutterfly_mov5.mov",
    ] {
        let bytes = std::fs::read(root.join(name)).unwrap();
        for cut in [bytes.len() / 2, 64, 12] {
            match read_clip(&bytes[..cut], &limits) {
                Ok(clip) => {
                    assert!(clip.frames > 0, "{name} cut at {cut}");
                    assert_eq!(clip.samples.len(), limits.samples);
                    println!(
                        "{name} cut at {cut}: {} frames, decode errors {:?}",
                        clip.frames, clip.decode_errors
                    );
                    // Streams cut inside a frame say so; a GIF cut between frames cannot.
                    if !name.ends_with(".gif") {
                        assert!(clip.decode_errors.is_some(), "{name} cut at {cut}");
                    }
                }
                Err(e) => println!("{name} cut at {cut}: {e}"),
            }
        }
    }
    // Our own output, faststart (index first), truncated: frames before the cut or an error.
    let ours = read_clip(&clip, &limits).unwrap();
    match read_clip(&ours.video[..ours.video.len() / 2], &limits) {
        Ok(cut) => assert!(cut.frames > 0 && cut.frames <= ours.frames),
        Err(e) => println!("truncated faststart mp4: {e}"),
    }
}

#[test]
fn limits_are_enforced_and_nothing_is_left_behind() {
    let parent = tempfile::tempdir().unwrap();
    let root = pocus_videos();
    let clip = std::fs::read(root.join("convex/Reg_pat1Image_133232.mpeg")).unwrap();
    let left = || std::fs::read_dir(parent.path()).unwrap().count();

    let short = ClipLimits {
        max_frames: 10,
        ..ClipLimits::default()
    };
    assert!(matches!(
        read_clip_in(&clip, &short, parent.path()),
        Err(ClipError::TooLong { max: 10 })
    ));
    assert_eq!(left(), 0);

    let narrow = ClipLimits {
        max_video_side: 100,
        ..ClipLimits::default()
    };
    assert!(matches!(
        read_clip_in(&clip, &narrow, parent.path()),
        Err(ClipError::Dimensions {
            width: 370,
            height: 370,
            max: 100
        })
    ));
    assert_eq!(left(), 0);

    let hurried = ClipLimits {
        timeout: Duration::from_millis(150),
        ..ClipLimits::default()
    };
    let t = Instant::now();
    let result = read_clip_in(&clip, &hurried, parent.path());
    assert!(matches!(result, Err(ClipError::Timeout)), "{result:?}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the child was not killed in time: {:?}",
        t.elapsed()
    );
    assert_eq!(left(), 0);

    assert!(matches!(
        read_clip_in(b"not a clip", &ClipLimits::default(), parent.path()),
        Err(ClipError::NotAClip(_))
    ));
    assert_eq!(left(), 0);

    // Fewer frames than samples: frames repeat, the count is as asked; small samples.
    let gif = make(
        parent.path(),
        "three.gif",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=10:duration=0.3",
            "-f",
            "gif",
        ],
    );
    std::fs::remove_file(parent.path().join("three.gif")).unwrap();
    let limits = ClipLimits {
        samples: 5,
        max_side: 32,
        ..ClipLimits::default()
    };
    let three = read_clip_in(&gif, &limits, parent.path()).unwrap();
    assert_eq!(three.container, Container::Gif);
    assert_eq!(three.frames, 3);
    assert_eq!(three.samples.len(), 5);
    assert_eq!(three.samples[0].dimensions(), (32, 24));
    assert_eq!(three.samples[1], three.samples[2]);
    assert_ne!(three.samples[0], three.samples[4]);
    assert_eq!(left(), 0);

    // A single-frame GIF is returned, with one frame: the caller decides.
    let still = make(
        parent.path(),
        "still.gif",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=1",
            "-frames:v",
            "1",
            "-f",
            "gif",
        ],
    );
    std::fs::remove_file(parent.path().join("still.gif")).unwrap();
    let one = read_clip_in(&still, &ClipLimits::default(), parent.path()).unwrap();
    assert_eq!(
        (one.container, one.frames, one.samples.len()),
        (Container::Gif, 1, 16)
    );
    assert_eq!(left(), 0);
}

#[cfg(unix)]
#[test]
fn the_temporary_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    // Watch the parent while a clip is read, to catch the directory during the call.
    let parent = tempfile::tempdir().unwrap();
    let clip =
        std::fs::read(pocus_videos().join("convex/Reg_Image_181739_trimmed_crop.mp4")).unwrap();
    let seen = std::thread::scope(|scope| {
        let reader = scope.spawn(|| read_clip_in(&clip, &ClipLimits::default(), parent.path()));
        let mut seen = None;
        while !reader.is_finished() {
            if let Some(Ok(meta)) = std::fs::read_dir(parent.path())
                .unwrap()
                .next()
                .map(|entry| entry.unwrap().metadata())
            {
                seen = Some(meta.permissions().mode() & 0o777);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        reader.join().unwrap().unwrap();
        seen
    });
    assert_eq!(seen, Some(0o700));
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}
