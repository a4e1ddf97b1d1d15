"""User-facing messages: one sentence, exit 2, the flag and its value at the command line,
the argument's name in the Python API, and each thing said once."""

import pytest
import torch

from invprior.cli import main
from invprior.io import write_image


@pytest.fixture()
def folder(tmp_path):
    """A folder of two 48x64 gray images (height 48, width 64)."""
    root = tmp_path / "in"
    for i in range(2):
        write_image(root / f"{'ab'[i]}.png", torch.rand(1, 1, 48, 64, generator=torch.Generator().manual_seed(i)))
    return root


def one_error(capsys) -> str:
    """The standard error of a refused command: one line, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("extra, message", [
    (["--iters", "3"], "the denoiser prior restores this in one pass"),
    (["--prior", "dip", "--lr", "-1"], "--lr must be > 0 and finite, got -1.0."),
    (["--self-ensemble", "9"], "--self-ensemble takes 1 to 8"),
    (["--prior", "inpainter"], "--prior inpainter is for --op inpaint only"),
])
def test_a_folder_with_a_bad_prior_option_is_refused_once_before_any_file(tmp_path, folder, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["--op", "denoise", str(folder), "-o", str(out), "--quiet", *extra]) == 2
    assert message in one_error(capsys)
    assert not out.exists()


def test_a_folder_s_unreadable_file_is_named_once(tmp_path, folder, capsys):
    (folder / "c.png").write_bytes(b"junk")
    assert main(["--op", "denoise", str(folder), "-o", str(tmp_path / "out"), "--quiet"]) == 1
    failed = [line for line in capsys.readouterr().err.splitlines() if "failed" in line]
    assert len(failed) == 1 and failed[0].count("c.png") == 1, failed


@pytest.fixture()
def image(tmp_path):
    """A 48x64 gray image file (height 48, width 64)."""
    path = tmp_path / "img.png"
    write_image(path, torch.rand(1, 1, 48, 64, generator=torch.Generator().manual_seed(0)))
    return path


@pytest.mark.parametrize("extra, message", [
    (["--prior", "dip", "--lr", "-1"], "error: --lr must be > 0 and finite, got -1.0."),
    (["--prior", "dip", "--ensemble", "0"], "error: --ensemble must be an integer from 1 to 64, got 0."),
    (["--prior", "dip", "--max-seconds", "-1"], "error: --max-seconds must be a positive number, got -1.0."),
    (["--prior", "denoiser", "--max-seconds", "-1"], "error: --max-seconds must be a positive number, got -1.0."),
    (["--self-ensemble", "9"], "error: --self-ensemble takes 1 to 8 of the square's rotations and flips, got 9."),
])
def test_the_command_line_names_the_flag_and_the_value(tmp_path, image, capsys, extra, message):
    assert main(["--op", "denoise", str(image), "-o", str(tmp_path / "o.png"), *extra]) == 2
    assert message in one_error(capsys)


def test_the_api_names_the_argument_and_the_value():
    from invprior.priors import make_prior

    with pytest.raises(ValueError, match=r"^lr must be > 0 and finite, got -1\.0\.$"):
        make_prior("dip", lr=-1.0)
    with pytest.raises(ValueError, match=r"^max_seconds must be a positive number, got -1\.0\.$"):
        make_prior("dip", max_seconds=-1.0)


def test_train_names_the_flag_and_the_value(tmp_path, capsys):
    from invprior.train import main as train_main

    assert train_main(["--size", "2", "--data", "digits", "--out", str(tmp_path / "t.pt"), "--quiet"]) == 2
    assert "error: --size must be an integer in [8, 1024], got 2." in one_error(capsys)


@pytest.mark.parametrize("extra, message", [
    (["--atoms", "0"], "--atoms must be at least 1, got 0."),
    (["--sparsity", "0"], "--sparsity must be from 1 to --atoms (1024), got 0."),
    (["--pairs", "0"], "--pairs must be at least --atoms (1024), got 0."),
    (["--factors", "9"], "--factors must be among 2, 3, 4, 8 (the Downsampling operator's), got 9."),
    (["--out", "FILE"], "is a file; name the folder that the dictionaries are written to."),
])
def test_sparse_training_refuses_bad_flags_up_front(tmp_path, capsys, extra, message):
    from invprior.sparse.train_sr import main as train_sr

    (tmp_path / "FILE").write_text("mine")
    extra = [str(tmp_path / "FILE") if word == "FILE" else word for word in extra]
    out = [] if "--out" in extra else ["--out", str(tmp_path / "out")]
    assert train_sr([*extra, *out, "--quiet"]) == 2
    assert message in one_error(capsys)
    assert not (tmp_path / "out").exists()


def test_a_trained_prior_of_another_size_says_both_sizes_in_words(tmp_path, image, capsys):
    from pathlib import Path

    digits = Path(__file__).parents[1] / "invprior" / "weights" / "prior_digits.pt"
    assert main(["--op", "denoise", "--prior", str(digits), str(image), "-o", str(tmp_path / "o.png")]) == 2
    assert ("this prior makes 16x16 gray images (width x height), but the observation is 64x48 "
            "gray; restore an observation of 16x16 gray, or use --prior denoiser (any size)."
            in one_error(capsys))


@pytest.mark.parametrize("extra, message", [
    # one-pass denoising takes no --iters, no --max-seconds; --shape is cs's measured shape,
    # no prior setting
    (["--op", "denoise", "--prior", "denoiser", "--lr", "0.1"],
     "the denoiser prior does not take --lr; of the flags it takes --device, --seed, "
     "--self-ensemble."),
    (["--op", "deblur", "--prior", "sparse", "--lr", "0.1"],
     "the sparse prior does not take --lr; of the flags it takes --device, --iters, --max-seconds, --seed."),
])
def test_the_flags_a_prior_takes_are_those_this_command_takes(tmp_path, image, capsys, extra, message):
    assert main([str(image), "-o", str(tmp_path / "o.png"), *extra]) == 2
    assert message in one_error(capsys)


def test_the_memory_refusal_gives_the_user_s_size_and_advice_that_fits(tmp_path, image, capsys, monkeypatch):
    monkeypatch.setattr("invprior.priors.pnp.free_memory", lambda device: 1.0)
    assert main(["--op", "deblur", "--prior", "denoiser", str(image), "-o", str(tmp_path / "o.png")]) == 2
    err = one_error(capsys)  # (a deblur has no factor; its margin is not the user's image)
    assert "for a 64x48 (width x height) image" in err and "use a smaller image or" in err
    monkeypatch.setattr("invprior.priors.generator.free_memory", lambda device: 1.0)
    assert main(["--op", "denoise", "--prior", "dip", str(image), "-o", str(tmp_path / "o.png")]) == 2
    assert "use a smaller image, --prior denoiser (it works on tiles)" in one_error(capsys)


def test_the_inpainter_for_another_operator_says_the_op_it_is_for(tmp_path, image, capsys):
    assert main(["--op", "denoise", "--prior", "inpainter", str(image), "-o", str(tmp_path / "o.png")]) == 2
    assert "error: --prior inpainter is for --op inpaint only; use --prior denoiser or dip." in one_error(capsys)


def test_cuda_without_a_gpu_is_advised_as_an_argument_or_a_flag(monkeypatch, tmp_path, image, capsys):
    from invprior import solve
    import operators as O

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^device='cuda' was asked for .*; use device='cpu'\.$"):
        solve(torch.rand(1, 1, 16, 16), O.Denoising(), device="cuda", progress=False)
    assert main(["--op", "denoise", "--device", "cuda", str(image), "-o", str(tmp_path / "o.png")]) == 2
    assert "--device cuda was asked for but no CUDA GPU is available; use --device cpu." in one_error(capsys)


@pytest.mark.parametrize("extra, message", [
    (["--kind", "pca", "--latent", "300", "--data", "digits"],
     "error: --latent 300 is too large: the data has 256 pixels per image; use --latent 256 or less."),
    (["--kind", "denoiser", "--start", "invprior/weights/prior_digits.pt", "--steps", "1"],
     "is a trained prior (GLO or PCA, for --prior PATH.pt), not a denoiser"),
    (["--kind", "denoiser", "--start", "invprior/weights/denoiser.pt", "--keep-start", "1.5", "--steps", "1"],
     "error: --keep-start must be in [0, 1), got 1.5."),
])
def test_train_says_what_is_wrong_with_the_flag_given(tmp_path, capsys, monkeypatch, extra, message):
    from pathlib import Path

    from invprior.train import main as train_main

    monkeypatch.chdir(Path(__file__).parents[1])
    assert train_main([*extra, "--out", str(tmp_path / "t.pt"), "--quiet"]) == 2
    assert message in one_error(capsys)


def test_the_api_says_k_for_a_linear_prior():
    from invprior.glo.pca import linear_prior_state

    with pytest.raises(ValueError, match=r"^k=20 is too large: the data has 16 pixels per image; use k=16 or less\.$"):
        linear_prior_state(torch.rand(40, 1, 4, 4), 20)


def test_sizes_are_said_width_by_height_and_flags_by_their_names(tmp_path, capsys):
    image, mask = tmp_path / "wide.png", tmp_path / "mask.png"
    write_image(image, torch.rand(1, 1, 48, 64, generator=torch.Generator().manual_seed(0)))
    write_image(mask, torch.ones(1, 1, 64, 48))
    assert main(["--op", "inpaint", str(image), "--mask", str(mask), "-o", str(tmp_path / "o.png")]) == 2
    assert f"the mask '{mask}' is 48x64 but the image is 64x48 (width x height)" in one_error(capsys)
    write_image(tmp_path / "thin.png", torch.rand(1, 1, 6, 30))
    assert main(["--op", "denoise", str(tmp_path / "thin.png"), "-o", str(tmp_path / "t.png")]) == 2
    assert "the image is 30x6 pixels (width x height)" in one_error(capsys)
    assert main(["--op", "sr", "--factor", "5", str(image), "-o", str(tmp_path / "s.png")]) == 2
    assert "--factor must be one of the downsampling factors (2, 3, 4, 8), got 5." in one_error(capsys)
    assert main(["--op", "inpaint", "--simulate", "--missing", "1.5", str(image), "-o",
                 str(tmp_path / "m.png")]) == 2
    assert "--missing must be the fraction of pixels hidden" in one_error(capsys)


def test_a_simulation_of_a_transparent_image_is_refused(tmp_path, capsys):
    # its mask had come from the alpha (--missing dropped without a word) and its PSNR from
    # the unknown colours under it
    rgba = torch.rand(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    rgba[:, 3] = 1.0
    rgba[:, 3, 8:16, 8:16] = 0.0
    write_image(tmp_path / "holes.png", rgba)
    assert main(["--op", "inpaint", "--simulate", "--missing", "0.3", str(tmp_path / "holes.png"),
                 "-o", str(tmp_path / "o.png")]) == 2
    assert "IMAGE has transparent pixels, whose colours are unknown" in one_error(capsys)
    assert not (tmp_path / "o.png").exists()


def test_an_all_zero_kernel_file_is_named(tmp_path, capsys):
    import numpy as np

    np.save(tmp_path / "zero.npy", np.zeros((5, 5), np.float32))
    write_image(tmp_path / "y.png", torch.rand(1, 1, 32, 32))
    assert main(["--op", "deblur", "--kernel", str(tmp_path / "zero.npy"), str(tmp_path / "y.png"),
                 "-o", str(tmp_path / "o.png")]) == 2
    assert f"--kernel '{tmp_path / 'zero.npy'}' is all zeros" in one_error(capsys)


def test_an_output_of_the_wrong_kind_names_its_flag(tmp_path, capsys):
    write_image(tmp_path / "y.png", torch.rand(1, 1, 32, 32))
    assert main(["--op", "denoise", str(tmp_path / "y.png"), "-o", str(tmp_path / "o.png"),
                 "--report", str(tmp_path / "r.json"), "--compare", str(tmp_path / "r.json")]) == 2
    assert f"cannot write --compare '{tmp_path / 'r.json'}' as an image" in one_error(capsys)


def test_a_gpu_number_beyond_the_machine_s_is_one_sentence(monkeypatch):
    # (else "invalid device ordinal" from the first allocation; CUDA faked: none here)
    from invprior.checks import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ValueError, match=r"device='cuda:1' was asked for but this machine has 1 CUDA GPU"):
        resolve_device("cuda:1")


def test_flags_are_named_in_sentences_but_never_inside_paths():
    # (a folder called seed=3/ or a file noise_level=0.1.png had been said as --seed 3/...)
    from invprior.cli import as_flags

    for text in ("'noise_level=0.1.png' already exists; choose another name or pass --force.",
                 "cannot read 'sigma=25/a.png': not a readable image.",
                 "runs/seed=3/a.png holds 2 frames; the first is restored."):
        assert as_flags(text) == text
    assert as_flags("give noise_level=0.06.") == "give --noise-level 0.06."
    assert as_flags("use device='cpu', or a larger device.") == "use --device cpu, or a larger device."


def test_a_bad_lr_for_a_trained_prior_is_named_once_before_a_folder(tmp_path, capsys):
    # it had been "--iters must be >= 0, restarts >= 1 and lr > 0.", once per file
    from invprior.weights import weight_file

    root = tmp_path / "in"
    for i in range(2):
        write_image(root / f"{i}.png", torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(i)))
    assert main(["--op", "denoise", str(root), "-o", str(tmp_path / "out"), "--quiet",
                 "--prior", str(weight_file("prior_digits.pt")), "--lr", "-1"]) == 2
    assert "--lr must be > 0 and finite, got -1.0." in one_error(capsys)
    assert not (tmp_path / "out").exists()


def test_a_run_on_another_device_gives_the_caller_s_operator_back_as_it_was():
    # Module.to moves in place: after solve(..., device="cuda") a user's A.kernel had stayed
    # on the GPU; "meta" stands in for it here, and a move that fails half-way as well
    import operators as O
    from invprior.priors.base import lent

    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = O.Blur(sigma=1.0), torch.nn.Conv2d(1, 1, 3)

    op = Two()
    kernel, weight, values = op.a.kernel, op.b.weight, op.b.weight.detach().clone()
    with lent(op, torch.device("meta")):
        assert op.a.kernel.device.type == "meta" and op.b.weight.device.type == "meta"
    assert op.a.kernel is kernel and op.b.weight is weight and torch.equal(op.b.weight, values)

    def fails_half_way(module):  # the second child cannot move (out of memory, say)
        if module is op.b:
            raise RuntimeError("CUDA out of memory")
        return module

    op.b._apply = lambda fn, recurse=True: fails_half_way(op.b)
    with pytest.raises(RuntimeError), lent(op, torch.device("meta")):
        pass
    assert op.a.kernel is kernel and op.a.kernel.device.type == "cpu"


def test_a_bad_value_that_moved_auto_off_its_prior_is_the_one_line(tmp_path, capsys):
    # "note: auto takes the denoiser prior here, which does not take --lr; ..." had come
    # first, then the refusal; and --sigma is named as the flag it is
    write_image(tmp_path / "y.png", torch.rand(1, 1, 32, 32))
    assert main(["--op", "denoise", str(tmp_path / "y.png"), "-o", str(tmp_path / "o.png"),
                 "--lr", "-1"]) == 2
    assert one_error(capsys) == "error: --lr must be > 0 and finite, got -1.0.\n"
    assert main(["--op", "deblur", "--sigma", "-2", str(tmp_path / "y.png"), "-o",
                 str(tmp_path / "o.png")]) == 2
    assert "error: --sigma must be positive and finite (the blur's width), got -2.0." in one_error(capsys)


def test_a_kernel_or_mask_file_that_cannot_be_read_names_its_flag(tmp_path, capsys):
    import numpy as np

    np.save(tmp_path / "line.npy", np.ones(100, np.float32))
    write_image(tmp_path / "y.png", torch.rand(1, 1, 32, 32))
    assert main(["--op", "deblur", "--kernel", str(tmp_path / "line.npy"), str(tmp_path / "y.png"),
                 "-o", str(tmp_path / "o.png")]) == 2
    assert f"cannot read --kernel '{tmp_path / 'line.npy'}': expected" in one_error(capsys)
    assert main(["--op", "inpaint", "--mask", str(tmp_path / "none.png"), str(tmp_path / "y.png"),
                 "-o", str(tmp_path / "o.png")]) == 2
    assert f"cannot read --mask '{tmp_path / 'none.png'}': no such file." in one_error(capsys)
