"""Contract suites: one test suite per storage port, run unchanged against every adapter."""
