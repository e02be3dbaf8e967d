"""The one error type for bad user input: its message names the file and the line or id."""


class SAICInputError(ValueError):
    """Bad input data or arguments. ``str(err)`` is the whole message a user needs."""

    def __init__(self, path, where, problem):
        self.path = str(path)
        self.where = where
        self.problem = problem
        location = f"{self.path}" + (f", {where}" if where else "")
        super().__init__(f"{location}: {problem}")
