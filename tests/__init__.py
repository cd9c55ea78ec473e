"""The test suite: the fast layer in ``unit/``, the integration layer beside it."""
