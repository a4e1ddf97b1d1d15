"""invprior.plot: the history figure is written (atomically, never over a file without
overwrite), a one-pass result says there is nothing to plot, and the CLI's --plot writes it."""

import pytest

import operators as O
from invprior.api import solve
from invprior.cli import main
from invprior.io import ImageError, read_image, write_image
from invprior.plot import history_chart, nothing_to_plot, plot_history


@pytest.fixture(scope="module")
def run(camera64):
    y = O.GaussianNoise(0.1, seed=0)(camera64)
    return solve(y, O.Denoising(), "dip", iters=25, truth=camera64, progress=False)


def test_history_is_written_with_a_panel_per_trace(tmp_path, run):
    assert run.losses and len(run.psnrs) == len(run.losses) and len(run.stop_signal) > 1
    path = plot_history(run, tmp_path / "r.png")
    image = read_image(path).image
    assert image.shape[1] == 3 and image.shape[-1] == 640
    # loss, PSNR and the stopping signal: three panels, taller than a loss-only chart
    only_loss = type(run)(run.image, losses=run.losses, iteration=run.iteration,
                          iterations=run.iterations)
    assert history_chart(run).size[1] > history_chart(only_loss).size[1]
    # the returned iteration is marked in red
    red = (image[0, 0] > 0.7) & (image[0, 1] < 0.25) & (image[0, 2] < 0.25)
    assert red.any()
    with pytest.raises(ImageError, match="already exists"):
        plot_history(run, path)
    plot_history(run, path, overwrite=True)
    with pytest.raises(ImageError, match=".png"):
        plot_history(run, tmp_path / "r.jpg")


def test_a_one_pass_result_says_there_is_nothing_to_plot(tmp_path, camera64):
    y = O.GaussianNoise(0.1, seed=0)(camera64)
    one = solve(y, O.Denoising(), "denoiser", progress=False)
    message = nothing_to_plot(one)
    assert message == "nothing to plot: the denoiser prior ran one pass, with no iterations to draw."
    assert plot_history(one, tmp_path / "one.png").exists()
    assert nothing_to_plot(solve(y, O.Denoising(), "dip", iters=3, progress=False)) is None


def test_cli_plot_flag(tmp_path, camera64, capsys):
    image = write_image(tmp_path / "cam.png", camera64)
    plot = tmp_path / "p.png"
    args = ["--op", "denoise", "--simulate", str(image), "--prior", "dip", "--iters", "5",
            "--quiet", "--plot", str(plot)]
    assert main(args) == 0 and plot.exists()
    assert main(args) == 2 and "already exists" in capsys.readouterr().err
    # a one-pass prior: the figure says there is nothing to plot, and so does stderr
    one_pass = ["--op", "denoise", str(image), "--prior", "denoiser", "--quiet", "--plot",
                str(tmp_path / "one.png"), "-o", str(tmp_path / "o.png")]
    assert main(one_pass) == 0
    assert "nothing to plot: the denoiser prior ran one pass" in capsys.readouterr().err
