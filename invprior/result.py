"""``Result``: what every prior returns, with one meaning per field, for batches too.

Example:
    >>> one = Result(torch.zeros(1, 1, 4, 4), iterations=3, iteration=2, stop_reason="done")
    >>> batch = Result.combine([one, one], seconds=1.5, prior="dip")
    >>> batch.image.shape, len(batch.items), batch.items[0] is one, one.items[0] is one
    (torch.Size([2, 1, 4, 4]), 2, True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["Result", "counted", "with_returned"]


@dataclass(eq=False)  # (the fields hold tensors: == compares identity, not each field)
class Result:
    """A restoration of ``B`` observations.

    Attributes:
        image: ``(B, C, H, W)`` restored images in [0, 1].
        items: ``B`` single-image Results, one per observation, in order (``[self]`` for
            ``B == 1``; a property over ``parts``). The fields below describe ``items[0]``
            when ``B > 1``.
        losses: data loss per iteration of the network priors (dip, decoder, trained);
            empty for one-pass priors and plug-and-play, which trace none.
        psnrs: PSNR of the estimate per iteration, when the truth was given; one value for
            a one-pass prior.
        iteration: the iteration whose estimate was returned, counted from 1 (``iterations``
            for the last; 1 for a one-pass prior; 0 for none, the starting estimate): its
            PSNR is ``psnrs[iteration - 1]`` (dip, decoder, plug-and-play).
        iterations: iterations run.
        stop_reason: why it stopped, in words.
        stop_signal: what the stopping rule watched, per check.
        seconds: wall time: of the whole call (all items) for the batch's Result, of the
            item's own restoration for each of ``items`` (its share, where the batch was
            restored together).
        prior: the name of the prior that ran.
        interrupted: Ctrl-C ended the run; ``image`` is the best estimate so far.
        noise_level: the standard deviation of ``y``'s noise (on ``y``'s scale) that the
            prior worked at, given or read off ``y`` (the stopping rule's, for the network
            priors); None where it used none. A batch's is its first item's, as above.
        step_seconds: the mean seconds of a step after the first, which pays for the first
            allocations (the network priors and plug-and-play, for the whole batch, where
            two or more ran; None elsewhere).
    """

    image: torch.Tensor
    losses: list = field(default_factory=list)
    psnrs: list = field(default_factory=list)
    iteration: int = 0
    iterations: int = 0
    stop_reason: str = ""
    stop_signal: list = field(default_factory=list)
    seconds: float = 0.0
    prior: str = ""
    interrupted: bool = False
    noise_level: float | None = None
    step_seconds: float | None = None
    # the items of a batch; none for one image, whose item is itself (``items``). Not
    # ``[self]`` in a field: dataclasses.asdict recursed on it forever, and
    # dataclasses.replace kept the old Result as its own item
    parts: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        # in rows and columns as a user expects: plug-and-play's last turn back had left a
        # transposed view, on which .view() failed, by the parity of its iteration count
        if isinstance(self.image, torch.Tensor):
            self.image = self.image.contiguous()

    @property
    def items(self) -> list:
        """One single-image Result per observation, in order; ``[self]`` for one."""
        return self.parts or [self]

    def __repr__(self) -> str:
        # the traces summarised: a notebook cell ending in a 2000-step result printed ~90 KB
        traces = ", ".join(f"{name}=[{len(v)} values]" for name, v in
                           (("losses", self.losses), ("psnrs", self.psnrs),
                            ("stop_signal", self.stop_signal)) if v)
        return (f"Result(image {tuple(self.image.shape)}, prior={self.prior!r}, "
                f"iteration={self.iteration}/{self.iterations}, seconds={self.seconds:.2f}, "
                f"stop_reason={self.stop_reason!r}" + (f", {traces}" if traces else "")
                + (", interrupted" if self.interrupted else "") + ")")

    @classmethod
    def combine(cls, items: list, *, seconds: float, prior: str) -> "Result":
        """One Result for a batch from its per-item Results (each ``(1, C, H, W)``)."""
        for item in items:
            item.prior = item.prior or prior
        first = items[0]
        if len(items) == 1:
            first.seconds, first.prior = seconds, prior
            return first
        # (one device: an item that Ctrl-C kept from starting holds the caller's y's estimate)
        image = torch.cat([r.image.to(first.image.device) for r in items])
        return cls(image=image, losses=first.losses,
                   psnrs=first.psnrs, iteration=first.iteration, iterations=first.iterations,
                   stop_reason=first.stop_reason, stop_signal=first.stop_signal,
                   seconds=seconds, prior=prior,
                   interrupted=any(r.interrupted for r in items),
                   noise_level=first.noise_level, step_seconds=first.step_seconds,
                   parts=list(items))


def counted(n: int, noun: str = "iteration") -> str:
    """``n`` and ``noun``, plural unless one (a stop reason had said "after 1 iterations").

    Example:
        >>> counted(1), counted(3, "step")
        ('1 iteration', '3 steps')
    """
    return f"{n} {noun}{'s' * (n != 1)}"


def with_returned(reason: str, returned: int, done: int) -> str:
    """``reason`` with the iteration returned where it is not the last one run and the
    reason does not say it yet (a run of 600 iterations whose stopping rule chose the 569th
    had said "reached 600 iterations" alone).

    Example:
        >>> with_returned("reached 600 iterations", 569, 600)
        'reached 600 iterations, returned iteration 569'
    """
    # (not after Ctrl-C: the step under way when it came is counted, not returned)
    if 0 < returned != done and "returned iteration" not in reason \
            and not reason.startswith("interrupted"):
        return f"{reason}, returned iteration {returned}"
    return reason
