//! Running ffmpeg and ffprobe: no shell, empty environment, stdin closed, a wall-clock
//! deadline (the child is killed when it passes), and bounded output.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::ClipError;

/// How much of a tool's stderr is kept for error messages.
const STDERR_TAIL: usize = 4096;

/// The two tools, found on `PATH`.
pub(crate) struct Tools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl Tools {
    pub fn find() -> Result<Tools, ClipError> {
        Ok(Tools {
            ffmpeg: find_on_path("ffmpeg")?,
            ffprobe: find_on_path("ffprobe")?,
        })
    }
}

fn find_on_path(tool: &'static str) -> Result<PathBuf, ClipError> {
    find_in(tool, &std::env::var_os("PATH").unwrap_or_default())
}

/// Looks for an executable `tool` in the absolute directories of a `PATH`-style list.
fn find_in(tool: &'static str, path: &std::ffi::OsStr) -> Result<PathBuf, ClipError> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(tool))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .ok_or(ClipError::MissingTool { tool })
}

/// What a finished run left behind.
pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr_tail: String,
}

/// Runs `program` with `args` in `cwd` until it exits or `deadline` passes.
///
/// The environment is emptied (so `FFREPORT` and friends cannot make ffmpeg write files
/// elsewhere), stdin is `/dev/null`, stdout is kept up to `stdout_cap` bytes (the child is
/// killed if it writes more) and only the last few KiB of stderr are kept.
pub(crate) fn run(
    tool: &'static str,
    program: &Path,
    args: &[OsString],
    cwd: &Path,
    deadline: Instant,
    stdout_cap: usize,
) -> Result<Output, ClipError> {
    if Instant::now() >= deadline {
        return Err(ClipError::Timeout);
    }
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ClipError::MissingTool { tool },
            _ => ClipError::Io(e),
        })?;

    let overflow = Arc::new(AtomicBool::new(false));
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let stdout_reader = {
        let overflow = Arc::clone(&overflow);
        thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if kept.len() + n > stdout_cap {
                            // Stop reading: the child blocks on a full pipe until it is killed.
                            overflow.store(true, Ordering::SeqCst);
                            break;
                        }
                        kept.extend_from_slice(&buf[..n]);
                    }
                }
            }
            kept
        })
    };
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stderr_reader = thread::spawn(move || {
        let mut tail = Vec::new();
        let mut buf = vec![0u8; 8 * 1024];
        loop {
            match stderr.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > 2 * STDERR_TAIL {
                        tail.drain(..tail.len() - STDERR_TAIL);
                    }
                }
            }
        }
        if tail.len() > STDERR_TAIL {
            tail.drain(..tail.len() - STDERR_TAIL);
        }
        String::from_utf8_lossy(&tail).trim().to_string()
    });

    let outcome = wait_until(&mut child, deadline, &overflow);
    if outcome.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    // The pipes close when the child is gone, so both readers finish.
    let stdout = stdout_reader.join().unwrap_or_default();
    let stderr_tail = stderr_reader.join().unwrap_or_default();
    let status = match outcome {
        Ok(status) => status,
        Err(Stop::Timeout) => return Err(ClipError::Timeout),
        Err(Stop::Overflow) => {
            return Err(ClipError::OutputTooLarge {
                tool,
                max: stdout_cap as u64,
            });
        }
        Err(Stop::Io(e)) => return Err(ClipError::Io(e)),
    };
    if overflow.load(Ordering::SeqCst) {
        return Err(ClipError::OutputTooLarge {
            tool,
            max: stdout_cap as u64,
        });
    }
    Ok(Output {
        status,
        stdout,
        stderr_tail,
    })
}

enum Stop {
    Timeout,
    Overflow,
    Io(std::io::Error),
}

/// Polls the child: short sleeps at first (most runs are short), longer ones later.
fn wait_until(
    child: &mut Child,
    deadline: Instant,
    overflow: &AtomicBool,
) -> Result<ExitStatus, Stop> {
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(e) => return Err(Stop::Io(e)),
        }
        if overflow.load(Ordering::SeqCst) {
            return Err(Stop::Overflow);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Stop::Timeout);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Fails with the tool's exit status and the end of its stderr unless it succeeded.
pub(crate) fn check(tool: &'static str, output: Output) -> Result<Output, ClipError> {
    if output.status.success() {
        Ok(output)
    } else {
        Err(ClipError::Ffmpeg {
            tool,
            status: output.status.to_string(),
            stderr_tail: output.stderr_tail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_the_debian_package() {
        let empty = tempfile::tempdir().unwrap();
        let error = find_in("ffmpeg", empty.path().as_os_str()).unwrap_err();
        assert!(matches!(error, ClipError::MissingTool { tool: "ffmpeg" }));
        let message = error.to_string();
        assert!(message.contains("Debian package `ffmpeg`"), "{message}");
        // Relative PATH entries are never searched.
        assert!(find_in("ffprobe", std::ffi::OsStr::new(".:bin")).is_err());
    }

    #[test]
    fn a_child_past_its_deadline_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let sleep = find_in("sleep", &std::env::var_os("PATH").unwrap()).unwrap();
        let started = Instant::now();
        let result = run(
            "sleep",
            &sleep,
            &[OsString::from("30")],
            dir.path(),
            Instant::now() + Duration::from_millis(100),
            1024,
        );
        assert!(matches!(result, Err(ClipError::Timeout)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn output_past_its_cap_stops_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let yes = find_in("yes", &std::env::var_os("PATH").unwrap()).unwrap();
        let result = run(
            "yes",
            &yes,
            &[] as &[OsString],
            dir.path(),
            Instant::now() + Duration::from_secs(30),
            100_000,
        );
        assert!(matches!(
            result,
            Err(ClipError::OutputTooLarge {
                tool: "yes",
                max: 100_000
            })
        ));
    }
}
