"""Exceptions carrying libsigeo's own messages ("what and where")."""


class SigeoError(Exception):
    """A failed libsigeo call. `status` is the sigeo_status_t, `message` the library's text."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message

    @staticmethod
    def from_status(status, message=None):
        if message is None:
            from ._lib import fn
            message = fn.last_error().decode("utf-8", "replace")
        return _CLASSES.get(status, SigeoError)(status, message)


class InvalidArgumentError(SigeoError, ValueError):
    pass


class OutOfMemoryError(SigeoError, MemoryError):
    pass


class ShapeError(SigeoError, ValueError):
    pass


class NonFiniteError(SigeoError, ArithmeticError):
    pass


class SigeoIOError(SigeoError, OSError):
    pass


class FormatError(SigeoError, ValueError):
    pass


class UnsupportedError(SigeoError, NotImplementedError):
    pass


class InternalError(SigeoError, RuntimeError):
    pass


class CancelledError(SigeoError):
    pass


_CLASSES = {-1: InvalidArgumentError, -2: OutOfMemoryError, -3: ShapeError, -4: NonFiniteError, -5: SigeoIOError,
            -6: FormatError, -7: UnsupportedError, -8: InternalError, -9: CancelledError}
