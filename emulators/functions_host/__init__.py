"""A local Azure Functions host: runs a Python v2 `function_app.py` with the production host's semantics.

Core Tools cannot be installed offline, so this package reads the app's `FunctionApp` object the way the
Python worker indexes it and drives each trigger as the Functions host (Storage extension 5.x) does.
"""
