"""Project-wide exception types: each names the file, key/row and value at fault."""

from __future__ import annotations


class MammoVQAError(Exception):
    """Base class; the CLI prints these without a traceback."""


class ConfigError(MammoVQAError):
    """A manifest or YAML file is malformed or names something unknown."""

    def __init__(self, file: object, key: str, message: str):
        self.file, self.key = str(file), key
        super().__init__(f"{file}: {key}: {message}")


class DataError(MammoVQAError):
    """A data file (labels, records, images) cannot be used as it is."""

    def __init__(self, file: object, row: object, message: str):
        self.file, self.row = str(file), row
        where = f"{file}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {message}")
