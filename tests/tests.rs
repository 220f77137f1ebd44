//! Integration tests: the real binary against the local fakes.
