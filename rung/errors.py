"""The one exception type the CLI turns into a one-line message and exit code 2."""


class RungError(Exception):
    """A problem with the user's input (env id, config value, run directory...), not a bug in rung."""


class RungWarning(UserWarning):
    """A run that will work but probably not as the user meant (the CLI prints it as one line)."""
