"""The one exception type the CLI turns into a one-line message and exit code 2."""


class RungError(Exception):
    """A problem with the user's input (env id, config value, run directory...), not a bug in rung."""
