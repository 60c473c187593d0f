"""Gunicorn access logging that never writes a callback token."""

from gunicorn.glogging import Logger

from receiver.landing.masking import MASK


class RedactingLogger(Logger):
    """Access log without the callback token: /callbacks/<source>/<token> -> /callbacks/<source>/***."""

    def atoms(self, resp, req, environ, request_time):
        """Gunicorn's log atoms with every path-bearing atom redacted."""
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q"):
            value = atoms.get(key)
            if isinstance(value, str) and "/callbacks/" in value:
                atoms[key] = self._redact_line(value)
        return atoms

    @staticmethod
    def _redact_line(value: str) -> str:
        """Mask the token segment wherever /callbacks/<source>/<token> appears in a log atom."""
        head, sep, tail = value.partition("/callbacks/")
        source, slash, rest = tail.partition("/")
        if not slash:
            return value
        token_end = min((i for i in (rest.find(c) for c in " ?#") if i >= 0), default=len(rest))
        return f"{head}{sep}{source}/{MASK}{rest[token_end:]}"
