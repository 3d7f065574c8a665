//! Thread-per-core async runtime on io_uring.
