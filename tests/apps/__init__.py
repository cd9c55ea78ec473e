"""Function apps the test workers load (``executor worker --app tests.apps.functions:app``)."""
