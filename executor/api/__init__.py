"""The HTTP API: FunctionGraph's async endpoints over the same client as Python."""
