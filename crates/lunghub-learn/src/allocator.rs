//! The C allocator set up for training.
//!
//! burn's flex backend allocates and frees tensors of a few MiB to a few tens of MiB every
//! step. glibc's malloc serves anything above its mmap threshold (128 KiB, then adapted
//! upwards only as far as 32 MiB) with a fresh `mmap`, and gives freed memory at the top of
//! the heap back with `madvise`/`brk` as soon as it passes 128 KiB, so each step pays for
//! page faults on memory it just returned. rayon's workers also get an arena each. Measured
//! on the reference recipe (2 cores, AMD EPYC): 35.4–36.5 s with glibc's defaults, 26–27 s
//! with the settings below, and byte-identical weights either way (the allocator decides
//! where tensors live, never what is computed).
//!
//! Only glibc is tuned; musl and other platforms keep their defaults.

/// Keeps large tensor buffers on the heap and the heap from being trimmed after every step.
/// Process-wide and idempotent; called at the start of training, never by the server.
pub fn tune_for_training() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::sync::Once;
        static TUNED: Once = Once::new();
        TUNED.call_once(|| {
            // Buffers up to 64 MiB come from the heap, where a freed one is reused by the next step.
            const MMAP_THRESHOLD: libc::c_int = 64 << 20;
            // Free memory stays mapped until 1 GiB of it sits at the top of the heap.
            const TRIM_THRESHOLD: libc::c_int = 1 << 30;
            // Tensors freed on one rayon worker are reused on another instead of every
            // worker's arena growing its own copy; large buffers are too few to contend.
            const ARENA_MAX: libc::c_int = 2;
            for (option, value) in [
                (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                (libc::M_ARENA_MAX, ARENA_MAX),
            ] {
                // SAFETY: mallopt only changes malloc's tuning parameters; glibc takes its own
                // lock, and every value here is within the documented range. A refusal (0)
                // leaves the default in place, which is only slower.
                unsafe {
                    libc::mallopt(option, value);
                }
            }
        });
    }
}
