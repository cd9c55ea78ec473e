"""Helpers the tests share: real processes (servers, workers, the API), waits, stubs."""
