"""Blur: convolution with a gaussian, motion, box or user kernel."""

from __future__ import annotations

import math

import torch

from .base import LinearOperator, as_number, as_real_array, as_switch, as_whole, check_image, is_damped

BORDERS = ("circular", "valid", "reflect", "replicate", "constant")


def gaussian_kernel(sigma: float, size: int | None = None) -> torch.Tensor:
    """Normalised 2-D gaussian kernel, shape ``(size, size)``; default size ``2*ceil(3 sigma)+1``.

    Example:
        >>> gaussian_kernel(2.0, 15).shape
        torch.Size([15, 15])
    """
    import kornia.filters  # lazy: keeps `import operators` fast

    sigma = as_number(sigma, "sigma (the blur's width)")
    if not 0 < sigma < math.inf:  # ("sigma must": the command line says --sigma)
        raise ValueError(f"sigma must be positive and finite (the blur's width), got {sigma}.")
    given = size
    if size is None:
        size = 2 * math.ceil(3 * sigma) + 1
    elif as_whole(size) is not None and 1 <= as_whole(size) < 3:
        # (size 1 is the identity: a deblurring of nothing; size 0 was read as the default)
        raise ValueError(f"a gaussian blur's kernel needs size >= 3, got {size} (no blur).")
    _check_size(size, f"blur sigma {sigma:g} (kernel side 2*ceil(3*sigma)+1)" if given is None
                else "the blur kernel size")
    size = as_whole(size)
    return kornia.filters.get_gaussian_kernel2d(size, (sigma, sigma), force_even=True)[0]


def motion_kernel(length: int, angle: float = 0.0) -> torch.Tensor:
    """Normalised linear motion kernel of ``length`` pixels at ``angle`` degrees.

    Example:
        >>> motion_kernel(9, 45.0).sum().item()
        1.0
    """
    import kornia.filters

    _check_size(length, "motion length")
    length = as_whole(length)
    angle = as_number(angle, "motion angle")
    if not math.isfinite(angle):  # kornia drew a kernel of NaN from it
        raise ValueError(f"motion angle must be a finite number of degrees, got {angle}.")
    angle = math.fmod(angle, 360.0)  # (1e39 overflowed kornia's float32: a kernel of NaN)
    if length == 1:  # no motion: kornia draws kernels of 3 pixels and more
        return torch.ones(1, 1)

    def line(size: int) -> torch.Tensor:  # kornia's line of an odd number of taps, summing to 1
        # drawn by bilinear rotation: kornia's default, nearest, drew slanted streaks too short
        # or too long (7 px at 30 degrees: 5.8; 11 at 45: 9.9; 9, 10 and 11 at 45 one kernel),
        # 5-9 dB lost deblurring a true streak of the length and angle told; bilinear's are
        # within 0.25 px, and the same along the axes
        k = (kornia.filters.get_motion_kernel2d(size, float(angle), 0.0, mode="bilinear")[0]
             if size > 1 else torch.ones(1, 1))
        return k / k.sum()

    if length % 2:
        return line(length)
    # kornia wants an odd size: an even length is the line one tap longer with its two end
    # taps at half weight, the streak's length (L + 1 full taps had blurred one pixel further
    # than asked: 4 px was 5 taps of 0.2)
    k = (length + 1) * line(length + 1) + (length - 1) * torch.nn.functional.pad(line(length - 1), (1, 1, 1, 1))
    return k / k.sum()


def box_kernel(size: int) -> torch.Tensor:
    """Uniform ``size x size`` kernel summing to one."""
    _check_size(size, "box size")
    size = as_whole(size)
    return torch.full((size, size), 1.0 / size**2)


# no image we restore is wider than this; a larger kernel is a typo (sigma 1e6 would ask
# for terabytes before any image-size check could say so)
MAX_KERNEL_SIZE = 4097


def _check_size(size, what: str = "kernel size") -> None:
    if as_whole(size) is None or as_whole(size) < 1:
        raise ValueError(f"{what} must be a positive integer, got {size!r}.")
    size = as_whole(size)
    if size > MAX_KERNEL_SIZE:
        raise ValueError(f"{what} gives a {size}x{size} kernel; the largest is "
                         f"{MAX_KERNEL_SIZE}x{MAX_KERNEL_SIZE}.")


def without_zero_margins(k: torch.Tensor) -> torch.Tensor:
    """``k`` ``(kh, kw)`` without the rows and columns of zeros (below 1e-7 of its largest
    value) that it has on both sides of an axis, as many cut from each side, so that its
    centre ``(kh // 2, kw // 2)`` stays where it was. A microscope's PSF file comes padded
    to its image's size: a 15x15 gaussian in a 128x128 frame was refused as larger than the
    image (the command line cuts a kernel file's margins; ``Blur`` keeps a kernel as given,
    which decides the margin of ``border="valid"``).

    Example:
        >>> k = torch.zeros(9, 8); k[2:6, 3:5] = 1  # centre (4, 4)
        >>> without_zero_margins(k).shape
        torch.Size([5, 2])
    """
    live = k.abs() > 1e-7 * k.abs().max()
    for axis in (0, 1):
        rows = live.any(1 - axis).nonzero().flatten()
        if len(rows) == 0:
            return k
        cut = min(int(rows[0]), k.shape[axis] - 1 - int(rows[-1]))
        k = k.narrow(axis, cut, k.shape[axis] - 2 * cut)
        live = live.narrow(axis, cut, live.shape[axis] - 2 * cut)
    return k


def _on_grid(y: torch.Tensor, levels: int) -> bool:
    """Whether every value of ``y`` is a whole number of ``1 / levels`` (an 8-bit file)."""
    scaled = y.detach() * levels
    return bool((scaled - scaled.round()).abs().max() < 1e-3)


class Blur(LinearOperator):
    """Convolution ``y = k * x`` (true convolution, applied per channel).

    Exactly one of ``sigma`` (gaussian), ``motion=(length, angle_degrees)``, ``box=size`` or
    ``kernel`` (a 2-D array/tensor, normalised to sum 1 unless ``normalize=False``).

    Convention:
        The kernel centre is element ``(kh // 2, kw // 2)``; an even-sized kernel is padded
        with a zero row/column at the end so that the centre stays there (as
        ``scipy.ndimage`` centres it; MATLAB's ``conv2(..., 'same')`` and
        ``scipy.signal.convolve2d(..., 'same')`` centre it at ``kh // 2 - 1``: their ``y``
        comes back shifted a pixel, 14.60 dB against 28.27, unless the kernel is padded with
        a zero row/column in front). The kernel is convolved, not correlated: a kernel
        written for OpenCV's ``filter2D``, MATLAB's ``imfilter`` or
        ``scipy.ndimage.correlate`` goes in flipped, ``kernel[::-1, ::-1]`` (an asymmetric
        shake not flipped: 14.65 dB against 30.15). Border handling
        ``border`` is one of ``circular`` (default; the image is periodic, the operator is
        diagonal in Fourier space and is applied there: forward and adjoint by FFT),
        ``valid`` (the scene beyond the frame is unknown: ``x`` is larger than ``y`` by the
        kernel's reach on each side, ``margin``, and is estimated with it; ``crop`` gives
        ``y``'s frame of it; what a photo blurred by a camera needs: README,
        "A photo's blur"), ``reflect``, ``replicate`` or ``constant`` (zeros): the image padded
        so, by FFT too (``_padded``), the adjoint by autograd, which is exact too. Output
        has the input's shape (``valid``: less the margins), dtype and device.

    Example:
        >>> A = Blur(sigma=2.0)
        >>> A(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
        >>> V = Blur(sigma=1.0, border="valid")  # a 7x7 kernel: 3 pixels each side
        >>> V(torch.rand(2, 3, 32, 32)).shape, V.input_shape_for((2, 3, 26, 26))
        (torch.Size([2, 3, 26, 26]), (3, 32, 32))
    """

    name = "blur"
    noise_visible = True  # blur leaves no fine detail but the noise
    good_initial_estimate = True

    def __init__(
        self,
        sigma: float | None = None,
        *,
        motion: tuple | None = None,
        box: int | None = None,
        kernel=None,
        size: int | None = None,
        border: str = "circular",
        normalize: bool = True,
    ):
        super().__init__()
        given = [v is not None for v in (sigma, motion, box, kernel)]
        if sum(given) != 1:
            raise ValueError("Blur needs exactly one of sigma, motion, box or kernel.")
        if border not in BORDERS:
            raise ValueError(f"unknown border '{border}'; choose one of {', '.join(BORDERS)}.")
        normalize = as_switch(normalize, "normalize")
        if sigma is not None:
            sigma = as_number(sigma, "sigma (the blur's width)")
            k, self.described = gaussian_kernel(sigma, size), f"sigma={sigma:g}"
        elif motion is not None:
            if not isinstance(motion, (tuple, list)) or len(motion) not in (1, 2):
                raise ValueError(f"motion is (length, angle_degrees), got {motion!r}.")
            k = motion_kernel(*motion)
            self.described = f"motion={(as_whole(motion[0]), *(float(a) for a in motion[1:]))}"
        elif box is not None:
            k, self.described = box_kernel(box), f"box={box}"
        else:
            k = as_real_array(kernel, "the blur kernel holds complex values; a blur kernel is real.")
            if k.ndim != 2 or min(k.shape) < 1:
                raise ValueError(f"a blur kernel must be a 2-D array, got shape {tuple(k.shape)}.")
            if not torch.isfinite(k).all():
                raise ValueError("the blur kernel contains NaN or infinite values.")
            self.described = f"kernel {k.shape[0]}x{k.shape[1]}"
            if normalize:
                if k.sum().abs() < 1e-12:
                    raise ValueError("the blur kernel sums to zero and cannot be normalised.")
                k = k / k.sum()
        # even sizes: pad at the end so the centre is (kh // 2, kw // 2) and size is odd
        k = torch.nn.functional.pad(k, (0, 1 - k.shape[1] % 2, 0, 1 - k.shape[0] % 2))
        self.border = border
        self.register_buffer("kernel", k)

    def extra_repr(self) -> str:
        """``Blur(sigma=2)`` (a --report names the operator by its repr)."""
        return self.described + ("" if self.border == "circular" else f", border='{self.border}'")

    @property
    def margin(self) -> tuple:
        """``(rows, columns)`` that ``x`` has beyond ``y`` on each side: the kernel's reach
        for ``border="valid"``, else ``(0, 0)``."""
        if self.border != "valid":
            return (0, 0)
        return (self.kernel.shape[0] // 2, self.kernel.shape[1] // 2)

    def input_shape_for(self, y_shape: tuple) -> tuple:
        c, h, w = y_shape[1:]
        mh, mw = self.margin
        return (c, h + 2 * mh, w + 2 * mw)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """``y``'s frame of an image ``x`` (``x`` itself unless ``border="valid"``)."""
        mh, mw = self.margin
        return x[..., mh : x.shape[-2] - mh, mw : x.shape[-1] - mw]

    def widen(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` with its edge pixels repeated over the margins: a start for ``x``."""
        import torch.nn.functional as F

        mh, mw = self.margin
        return F.pad(y, (mw, mw, mh, mh), mode="replicate") if mh or mw else y

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        """``k * x`` with ``border`` padding (reflect, replicate, constant), by FFT: padded
        by the kernel's reach, convolved circularly, cropped. Equal to kornia's filter2d to
        rounding, and 9x faster with its adjoint (by autograd; 256x256, a 13x13 kernel:
        3.8 ms against 34), which plug-and-play's data step applies 30 times per iteration."""
        import torch.nn.functional as F

        kh, kw = self.kernel.shape
        ph, pw = kh // 2, kw // 2
        if self.border != "constant" and min(x.shape[-2:]) <= max(ph, pw):
            raise ValueError(f"the image ({x.shape[-1]}x{x.shape[-2]}, width x height) is too "
                             f"small for a {kw}x{kh} kernel with {self.border} borders.")
        padded = F.pad(x, (pw, pw, ph, ph), mode=self.border)
        blurred = self._convolve(padded, fast_size(padded))
        return blurred[..., ph : ph + x.shape[-2], pw : pw + x.shape[-1]].to(x.dtype)

    def _convolve(self, x: torch.Tensor, size: tuple, adjoint: bool = False) -> torch.Tensor:
        """``x`` convolved (``adjoint``: correlated) with the kernel circularly on an FFT
        grid of ``size`` (x's own, or larger: zeros beyond x), x's top-left part of it."""
        spectrum = self._spectrum(x, size)
        if adjoint:
            spectrum = spectrum.conj()
        # (in the spectrum's precision: torch's FFT takes no half precision on the CPU)
        x = x.to(spectrum.real.dtype)
        out = torch.fft.irfft2(torch.fft.rfft2(x, s=size) * spectrum, s=size)
        return out[..., : x.shape[-2], : x.shape[-1]]

    def _spectrum(self, x: torch.Tensor, size: tuple | None = None) -> torch.Tensor:
        """rfft2 of the kernel zero-padded to ``size`` (default the image's), centre moved
        to (0, 0)."""
        check_image(x)
        real = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        return torch.fft.rfft2(_at_origin(self.kernel, size or x.shape[-2:], real, x.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x)
        if self.border in ("circular", "valid"):
            # by hand, not kornia: in the solver the backward pass of a 15x15 conv2d took
            # ~70 ms per 256x256 image on one core, the FFT forward+backward ~1.5 ms; valid:
            # the wrap-around of the circular convolution reaches the margins only
            mh, mw = self.margin
            if min(x.shape[-2] - 2 * mh, x.shape[-1] - 2 * mw) < 1:
                raise ValueError(f"the image ({x.shape[-1]}x{x.shape[-2]}, width x height) is "
                                 f"too small for a {self.kernel.shape[1]}x{self.kernel.shape[0]} "
                                 f"kernel.")
            # valid: any FFT grid as large as x keeps the wrap-around out of y's frame, so
            # the fastest one (fast_size)
            size = fast_size(x) if self.border == "valid" else x.shape[-2:]
            return self.crop(self._convolve(x, size)).to(x.dtype)
        return self._padded(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        check_image(y)
        if self.border not in ("circular", "valid"):
            return super().adjoint(y)
        # the adjoint of circular convolution is circular correlation: conjugate spectrum
        # (valid: of the crop, zeros over the margins)
        if self.border == "circular":
            return self._convolve(y, y.shape[-2:], adjoint=True).to(y.dtype)
        mh, mw = self.margin
        y = torch.nn.functional.pad(y, (mw, mw, mh, mh))
        return self._convolve(y, fast_size(y), adjoint=True).to(y.dtype)

    def pinv(self, y: torch.Tensor, *, damping=0.0, **cg) -> torch.Tensor:
        """``(A^T A + damping I)^-1 A^T y``. With circular borders and ``damping`` > 0 (a
        float, or a tensor per batch item) exactly, in Fourier space, where the operator is
        diagonal: one FFT pair instead of conjugate-gradient steps of two each (the data
        step of plug-and-play: 30 steps cost more than the denoiser on a 12-megapixel
        photo). Otherwise conjugate gradient (``LinearOperator.pinv``).

        Example:
            >>> A, x = Blur(sigma=1.5), torch.rand(1, 1, 32, 32)
            >>> exact = A.pinv(A(x), damping=0.01)
            >>> cg = LinearOperator.pinv(A, A(x), damping=0.01, max_iter=500, tol=1e-9)
            >>> bool(torch.allclose(exact, cg, atol=1e-4))
            True
        """
        if self.border != "circular" or not is_damped(damping):
            return super().pinv(y, damping=damping, **cg)
        spectrum = self._spectrum(y)
        if isinstance(damping, torch.Tensor):  # (B, 1, 1, 1): one per item
            damping = damping.to(spectrum.real.dtype)
        solved = torch.fft.rfft2(y.to(spectrum.real.dtype)) * spectrum.conj() / (
            spectrum.abs().square() + damping)
        return torch.fft.irfft2(solved, s=y.shape[-2:]).to(y.dtype)

    # damped back-projections tried from the most exact on, and the out-of-range share that
    # marks one as amplifying an error of the model rather than restoring detail
    PROJECTION_DAMPINGS = (1e-10, 1e-8, 1e-6, 1e-4)
    PROJECTION_OUTSIDE = 0.01

    def projection(self, y: torch.Tensor):
        """For a noise-free ``y``: the damped back-projection ``x + A^+ (y - A x)`` (circular
        borders), which puts back the detail the blur kept, however faint, where a
        regulariser had left it out. Noise-free means exact here, a float simulation:
        ``y`` on an 8-bit grid gets None (its rounding is noise, which the projection
        would amplify), and per item the smallest damping of ``PROJECTION_DAMPINGS`` whose
        result keeps all but ``PROJECTION_OUTSIDE`` of its pixels in [-0.02, 1.02] (a model
        that does not match y, e.g. y blurred with reflected borders: every damping pushed
        12 % out, and the item is left as it is).

        Measured after plug-and-play at noise_level=0, 96x96 camera / astronaut: gaussian
        3 27.02 / 22.63 -> 34.89 / 31.47 dB (skimage's unsupervised Wiener 34.81 on camera),
        gaussian 1 39.90 / 36.65 -> 87.87 / 90.05, motion 11 px 44.70 / 42.70 -> 71.50 /
        65.09; y rounded to 16 bits, gaussian 3: 27.02 -> 31.07 (damping 1e-8).

        Example:
            >>> A, x = Blur(sigma=1.0), torch.rand(1, 1, 32, 32)
            >>> bool((A.projection(A(x))(x.clamp(0.2, 0.8)) - x).abs().max() < 1e-3)
            True
            >>> A.projection((A(x) * 255).round() / 255) is None
            True
        """
        if self.border != "circular" or _on_grid(y, 255):
            return None

        def project(x):
            out = x.clone()
            todo = torch.ones(len(x), dtype=torch.bool, device=x.device)
            residual = y - self(x)
            for damping in self.PROJECTION_DAMPINGS:
                candidate = x + self.pinv(residual, damping=damping)
                outside = ((candidate < -0.02) | (candidate > 1.02)).flatten(1).float().mean(1)
                take = todo & (outside < self.PROJECTION_OUTSIDE)
                out[take] = candidate[take]
                todo &= ~take
                if not todo.any():
                    break
            return out
        return project

    def initial_estimate(self, y: torch.Tensor) -> torch.Tensor:
        """Wiener deconvolution (balance 3e-3) for circular borders, else the smoothest fit
        (``LinearOperator.initial_estimate``: 25.7 dB on camera 128, gaussian 2, noise 0.01,
        where damped least squares left the margins dark at 13.9)."""
        if self.border != "circular":
            return super().initial_estimate(y)
        with torch.no_grad():
            return wiener_deconvolution(y, self.kernel).clamp(0, 1)


def _at_origin(kernel: torch.Tensor, size: tuple, dtype, device) -> torch.Tensor:
    """``kernel`` zero-padded to ``size`` ``(h, w)`` with its centre ``(kh // 2, kw // 2)``
    moved to (0, 0), for its spectrum; one sentence (ValueError) when it is larger than
    the image."""
    (h, w), (kh, kw) = size, kernel.shape
    if kh > h or kw > w:
        raise ValueError(f"the image ({w}x{h}, width x height) is too small for a {kw}x{kh} "
                         f"kernel.")
    padded = torch.zeros(h, w, dtype=dtype, device=device)
    padded[:kh, :kw] = kernel.to(padded)
    return torch.roll(padded, (-(kh // 2), -(kw // 2)), dims=(0, 1))


def fast_size(x: torch.Tensor) -> tuple:
    """The smallest ``(h, w)`` at least ``x``'s with no prime factor above 5: an FFT of a
    length with a large prime factor costs up to 7x more (an RGB transform pair at 268x268,
    256 + a 13x13 kernel's margins: 1.92 ms; 280x280: 0.39; 524 against 540: 12.7, 1.9).

    Example:
        >>> fast_size(torch.zeros(1, 1, 268, 256))
        (270, 256)
    """
    # scipy.fft.next_fast_len(n, real=True) is the same (checked for n < 5000), but nothing
    # else here imports scipy.fft, and that import takes 0.2 s
    def smooth(n: int) -> int:
        while True:
            m = n
            for p in (2, 3, 5):
                while m % p == 0:
                    m //= p
            if m == 1:
                return n
            n += 1

    return smooth(x.shape[-2]), smooth(x.shape[-1])


def wiener_deconvolution(y: torch.Tensor, kernel: torch.Tensor, balance: float = 3e-3) -> torch.Tensor:
    """Wiener/Tikhonov deconvolution for circular blur: ``conj(K) Y / (|K|^2 + balance)``.

    ``kernel`` is centred at ``(kh // 2, kw // 2)`` as in ``Blur``; ``y`` is ``(B, C, H, W)``.

    Example:
        >>> A = Blur(sigma=1.0)
        >>> x = Blur(sigma=1.0)(torch.rand(1, 1, 32, 32))  # smooth: recoverable
        >>> error = lambda u: (u - x).square().mean().item()
        >>> error(wiener_deconvolution(A(x), A.kernel)) < error(A(x)) / 4
        True
    """
    K = torch.fft.fft2(_at_origin(kernel, y.shape[-2:], torch.float64, y.device))
    X = K.conj() * torch.fft.fft2(y.double()) / (K.abs() ** 2 + balance)
    return torch.fft.ifft2(X).real.to(y)
