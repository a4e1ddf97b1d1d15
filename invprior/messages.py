"""What an exception says, put into a sentence of our own (every error a user sees is one
sentence: this file only shapes the part quoted from a library's exception).

Example:
    >>> f"cannot read 'a.png' ({error_text(OSError('truncated file.'))})."
    "cannot read 'a.png' (truncated file)."
"""

from __future__ import annotations

__all__ = ["error_text", "listed"]


def error_text(err: BaseException, limit: int = 200, path=None) -> str:
    r"""What an exception says, on one line, for a sentence of our own: its lines joined
    (torch's first line alone can be a bare heading: "Error(s) in loading state_dict for
    GLODecoder:"), cut at ``limit`` characters, without a final period; its type when it
    says nothing. The file ``path`` it quotes is left out: our sentence names it already.

    Example:
        >>> error_text(RuntimeError("Error(s) in loading:\n\tsize mismatch for w."))
        'Error(s) in loading: size mismatch for w'
        >>> error_text(OSError("cannot identify image file 'b.png'"), path="b.png")
        'cannot identify image file'
    """
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    if path is not None:
        for quoted in (f" '{path}'", f' "{path}"'):  # (unquoted, a short name cut words)
            text = text.replace(quoted, "")
    text = text or type(err).__name__
    return (text[: limit - 3] + "...") if len(text) > limit else text.rstrip(".")


def listed(names: list) -> str:
    """Names in a sentence: "a", "a and b", "a, b and c".

    Example:
        >>> listed(["pinv"]), listed(["adjoint", "pinv"]), listed(["a", "b", "c"])
        ('pinv', 'adjoint and pinv', 'a, b and c')
    """
    return " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"
