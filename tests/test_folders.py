"""Folders, globs and several files: one output per input, resumable, bad files reported,
same-size images restored together, and torchrun sharing the files out."""

import os
import shutil
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest
import torch

import operators as O
from invprior.bench.cases import sample_image
from invprior.cli import main
from invprior.io import read_image, write_image
from invprior.priors.cnn import CNNPrior

ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
NAMES = ("camera", "astronaut", "coffee", "chelsea", "brick")


@pytest.fixture()
def photos(tmp_path):
    """Four noisy 48x48 photos (one gray, one in a subfolder), a corrupt file, a hidden one."""
    root = tmp_path / "photos"
    for i, name in enumerate(NAMES[:4]):
        x = sample_image(name, 48)
        x = x.mean(1, keepdim=True) if name == "camera" else x
        noisy = (x + 0.08 * torch.randn(x.shape, generator=torch.Generator().manual_seed(i))).clamp(0, 1)
        write_image(root / ("sub" if i == 3 else "") / f"{name}.png", noisy)
    (root / "broken.png").write_bytes(b"\x89PNG not really")
    write_image(root / ".hidden.png", torch.rand(1, 1, 8, 8))
    return root


def _read_8x8(path):
    """A folder run's ``prepare`` for the 8x8 test images: one key for all, the image."""
    return (8, 8), read_image(path).image


def _echoed(into: list):
    """A folder run's ``restore`` that gives its items back as they are, noting them in
    ``into``."""
    def restore(items):
        into.extend(items)
        return [(x, None) for x in items]
    return restore


def _outputs(folder):
    """The files under ``folder`` but the hidden ones (folders.MARKER)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and not p.name.startswith("."))


def test_folder_restores_each_file_reports_bad_ones_and_resumes(tmp_path, photos, capsys):
    out = tmp_path / "out"
    assert main(["--op", "denoise", str(photos), "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and err.count("failed:") == 1
    assert _outputs(out) == ["astronaut.png", "camera.png", "coffee.png", "sub/chelsea.png"]
    assert read_image(out / "sub" / "chelsea.png").image.shape == (1, 3, 48, 48)
    # a rerun skips what exists (nothing rewritten) and says so; --force restores again
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert main(["--op", "denoise", str(photos), "-o", str(out)]) == 1
    assert "restored 0 files, skipped 4" in capsys.readouterr().out
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    (out / "camera.png").unlink()  # as if the run had been interrupted before it
    assert main(["--op", "denoise", str(photos), "-o", str(out)]) == 1
    assert "restored 1 file, skipped 3" in capsys.readouterr().out
    assert main(["--op", "denoise", str(photos), "-o", str(out), "--force"]) == 1
    assert "restored 4 files, skipped 0" in capsys.readouterr().out


def test_folder_results_equal_one_file_at_a_time(tmp_path, photos, capsys):
    # three same-size RGB images are restored together; the results are those of one call each
    files = [photos / "astronaut.png", photos / "coffee.png", photos / "sub" / "chelsea.png"]
    out = tmp_path / "out"
    assert main(["--op", "deblur", *map(str, files), "-o", str(out), "--quiet"]) == 0
    for f in files:
        single = tmp_path / f"single_{f.name}"
        assert main(["--op", "deblur", str(f), "-o", str(single), "--quiet"]) == 0
        a, b = read_image(out / f.name).image, read_image(single).image
        assert (a - b).abs().max() <= 1 / 255 + 1e-6, f


def test_glob_and_mask_of_the_wrong_size(tmp_path, photos, capsys):
    mask = write_image(tmp_path / "mask.png", (torch.rand(1, 1, 48, 48) > 0.3).float())
    write_image(photos / "big.png", torch.rand(1, 3, 64, 64))
    out = tmp_path / "filled"
    code = main(["--op", "inpaint", "--mask", str(mask), str(photos / "*.png"), "-o", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "big.png" in err and "same size" in err and "broken.png" in err
    assert _outputs(out) == ["astronaut.png", "camera.png", "coffee.png"]
    observed = read_image(mask).image > 0.5
    y, x = read_image(photos / "coffee.png").image, read_image(out / "coffee.png").image
    assert torch.equal(x[observed.expand_as(x)], y[observed.expand_as(y)])  # holes filled only


def test_a_large_hole_in_the_mask_takes_the_same_prior_as_one_file(tmp_path, photos, capsys):
    # a 36x36 hole (radius 18): one file alone takes the inpainter (tests/test_cli.py); so
    # does the folder
    mask = torch.ones(1, 1, 48, 48)
    mask[..., 6:42, 6:42] = 0
    write_image(tmp_path / "mask.png", mask)
    files = [photos / "astronaut.png", photos / "coffee.png"]
    run = ["--op", "inpaint", "--mask", str(tmp_path / "mask.png"), "--quiet"]
    assert main([*run, *map(str, files), "-o", str(tmp_path / "out")]) == 0
    for f in files:
        single = tmp_path / f"single_{f.name}"
        report = tmp_path / f"{f.stem}.json"
        assert main([*run, str(f), "-o", str(single), "--report", str(report)]) == 0
        assert '"prior": "inpainter"' in report.read_text()
        a, b = read_image(tmp_path / "out" / f.name).image, read_image(single).image
        assert (a - b).abs().max() <= 1 / 255 + 1e-6, f
    # and the plug-and-play result for the same holes is another image
    other = tmp_path / "pnp.png"
    assert main([*run, str(files[0]), "-o", str(other), "--prior", "denoiser", "--iters", "5"]) == 0
    assert (read_image(other).image - read_image(tmp_path / "out" / files[0].name).image).abs().max() > 0.05


@pytest.mark.parametrize("extra,match", [
    (["--report", "r.json"], "take one image"),
    (["--plot", "p.png"], "take one image"),
    (["-o", "FILE"], "is a file"),
    (["-o", "restored.png"], "names an image file"),
    (["-o", ""], "-o is empty; name a folder."),  # (the default folder, taken unsaid)
    (["-o", "PHOTOS"], "is the input folder"),
    # the same for every file: said once, before any (each file failed with it before)
    (["--mask", "m.png"], "--mask is for --op inpaint"),
    (["--noise", "gaussian:0.1"], "with --simulate"),
    (["--op", "sr", "--factor", "5"], "factor must be one of"),
    (["--op", "deblur", "--kernel", "nokernel.npy"], "no such file"),
])
def test_folder_usage_errors(tmp_path, photos, capsys, extra, match):
    (tmp_path / "FILE").write_text("x")
    extra = [str(tmp_path / e) if e in ("FILE", "restored.png") else e for e in extra]
    extra = [str(photos) if e == "PHOTOS" else e for e in extra]
    extra = [str(tmp_path / e) if e.endswith(("m.png", ".npy")) else e for e in extra]
    out = ["-o", str(tmp_path / "out")] if "-o" not in extra else []
    assert main(["--op", "denoise", str(photos), *out, *extra]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1, err
    assert not (tmp_path / "restored.png").exists()  # no folder of that name
    assert not (tmp_path / "out").exists()  # nor an empty output folder


def test_empty_folder_and_unmatched_glob(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["--op", "denoise", str(tmp_path / "empty")]) == 2
    assert "holds no image files" in capsys.readouterr().err
    assert main(["--op", "denoise", str(tmp_path / "nothing*.png")]) == 2
    assert "matches no image files" in capsys.readouterr().err
    # said before -o's mistake (it had said "-o names an image file" alone)
    assert main(["--op", "denoise", str(tmp_path / "nothing*.png"), "-o", "o.png"]) == 2
    assert "matches no image files" in capsys.readouterr().err


def test_an_empty_folder_among_several_inputs_is_said_and_left_out(tmp_path, capsys):
    # a shell's photos/* with one empty subfolder had refused the whole run
    write_image(tmp_path / "photos" / "day1" / "a.png", sample_image("camera", 16))
    (tmp_path / "photos" / "empty").mkdir()
    folders = sorted(str(p) for p in (tmp_path / "photos").iterdir())
    out = tmp_path / "out"
    assert main(["--op", "denoise", *folders, "-o", str(out), "--quiet"]) == 0
    assert _outputs(out) == ["day1/a.png"]
    err = capsys.readouterr().err
    assert f"note: left out '{tmp_path / 'photos' / 'empty'}': it holds no image files." in err
    (tmp_path / "photos" / "empty2").mkdir()
    empties = [str(tmp_path / "photos" / e) for e in ("empty", "empty2")]
    assert main(["--op", "denoise", *empties, "-o", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the folders '{empties[0]}' and '{empties[1]}' hold no image "
                          "files (") and err.count("\n") == 1, err


def test_a_link_to_the_searched_folder_itself_leaves_nothing_out(tmp_path, capsys):
    # 'current -> .' had been said as a folder not searched, with exit status 1
    write_image(tmp_path / "photos" / "a.png", sample_image("camera", 16))
    (tmp_path / "photos" / "current").symlink_to(".", target_is_directory=True)
    out = tmp_path / "out"
    assert main(["--op", "denoise", str(tmp_path / "photos"), "-o", str(out), "--quiet"]) == 0
    assert _outputs(out) == ["a.png"] and capsys.readouterr().err == ""


def test_batch_of_observations_is_restored_together_like_one_at_a_time():
    x = torch.cat([sample_image(n, 40).mean(1, keepdim=True) for n in NAMES[:3]])
    A = O.Blur(sigma=1.5)
    y = O.GaussianNoise(0.02, seed=0)(A(x))
    prior = CNNPrior(iters=6)
    together = prior.restore(y, A, truth=x)
    assert len(together.items) == 3 and together.image.shape == x.shape
    for b in range(3):
        alone = prior.restore(y[b : b + 1], A, truth=x[b : b + 1])
        torch.testing.assert_close(together.items[b].image, alone.image, atol=1e-4, rtol=0)
        assert together.items[b].psnrs == pytest.approx(alone.psnrs, abs=1e-3)


def test_same_size_files_are_batched_together_and_shares_are_even(tmp_path):
    # sizes alternating in name order had gone one image at a time (2-3x the time); by
    # position, a.png beside its thumbnail a_thumb.png had sent every photo to rank 0
    from invprior.folders import find_jobs, restore_files
    from invprior.sharing import deal

    for i in range(6):
        write_image(tmp_path / "in" / f"{i}.png", torch.rand(1, 1, 32, 32))
        write_image(tmp_path / "in" / f"{i}_thumb.png", torch.rand(1, 3, 8, 8))
    jobs = find_jobs([tmp_path / "in"], tmp_path / "out")
    calls = []

    def restore(items):
        calls.append(len(items))
        return [(x, None) for x in items]

    tally = restore_files(jobs, lambda path: (tuple(read_image(path).image.shape), read_image(path).image),
                          restore, force=False, progress=False, say=print)
    assert tally.done == 12 and calls == [6, 6]
    shares = [[jobs[i] for i in hand] for hand in deal(jobs, 2, force=True)]
    assert sorted(j.source for part in shares for j in part) == sorted(j.source for j in jobs)
    assert [sum("thumb" in j.source.name for j in part) for part in shares] == [3, 3]
    # what is left to do is dealt, not what is there already (the photos' outputs here)
    for job in jobs:
        if "thumb" in job.source.name:
            job.output.unlink()
    left = [[jobs[i] for i in hand] for hand in deal(jobs, 2)]
    assert [sum(not j.output.exists() for j in part) for part in left] == [3, 3]


def test_two_process_torchrun_matches_one_process(tmp_path, photos):
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["--op", "deblur", str(photos), "--quiet"]
    assert subprocess.run([sys.executable, "-m", "invprior.solve", *args, "-o", str(one)],
                          env=ENV, capture_output=True, timeout=300).returncode == 1
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", "-m", "invprior.solve", *args, "-o", str(two)],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert "broken.png" in proc.stderr  # the bad file fails on its rank, the rest finish
    assert proc.returncode == 1, proc.stderr[:2000]  # a failed file's status, through torchrun
    assert _outputs(one) == _outputs(two) == ["astronaut.png", "camera.png", "coffee.png",
                                              "sub/chelsea.png"]
    for name in _outputs(one):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


@pytest.mark.parametrize("world", ["1", "2"])
def test_leave_ends_with_the_status_and_nothing_printed_lost(world):
    # a torchrun rank (WORLD_SIZE > 1) skips Python's finalisation: what it printed must still arrive
    code = "from invprior.distributed import leave; print('done', end=''); leave(3)"
    env = {k: v for k, v in ENV.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as usual
    proc = subprocess.run([sys.executable, "-c", code], env=dict(env, WORLD_SIZE=world),
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (3, "done")


def test_a_failing_batch_fails_its_files_only(tmp_path):
    from invprior.folders import find_jobs, restore_files

    for name, size in (("a", 8), ("b", 8), ("c", 12)):
        write_image(tmp_path / "in" / f"{name}.png", torch.rand(1, 1, size, size))
    jobs = find_jobs([tmp_path / "in"], tmp_path / "out")

    def prepare(path):
        x = read_image(path).image
        return tuple(x.shape), x

    def restore(items):  # the two 8x8 images come together, and run out of memory
        if len(items) == 2:
            raise RuntimeError("CUDA out of memory")
        return [(x, None) for x in items]

    said = []
    tally = restore_files(jobs, prepare, restore, force=False, progress=False, say=said.append)
    assert (tally.done, tally.failed, tally.skipped) == (1, 2, 0)
    assert len(said) == 2 and all("out of memory" in line for line in said)
    assert _outputs(tmp_path / "out") == ["c.png"]


def test_an_output_another_run_wrote_since_its_file_was_read_is_not_restored(tmp_path):
    # two runs of one folder had each restored nearly all of it (698 solves for 400 files)
    from invprior.folders import find_jobs, restore_files

    for name in "abc":
        write_image(tmp_path / "in" / f"{name}.png", torch.rand(1, 1, 8, 8))
    jobs = find_jobs([tmp_path / "in"], tmp_path / "out")
    restored = []

    def prepare(path):
        if path.name == "c.png":  # the other run, meanwhile, wrote b's output
            write_image(tmp_path / "out" / "b.png", torch.zeros(1, 1, 8, 8))
        return _read_8x8(path)
    restore = _echoed(restored)
    tally = restore_files(jobs, prepare, restore, force=False, progress=False, say=print)
    assert (tally.done, tally.skipped, len(restored)) == (2, 1, 2)


def test_an_output_written_meanwhile_is_kept_and_a_folder_at_an_output_fails(tmp_path):
    # another run into the same folder wrote b.png while this one restored it: it was
    # replaced without --force; an output path that is a folder counted as "skipped"
    from invprior.folders import find_jobs, restore_files

    for name in "abc":
        write_image(tmp_path / "in" / f"{name}.png", torch.rand(1, 1, 8, 8))
    jobs = find_jobs([tmp_path / "in"], tmp_path / "out")
    (tmp_path / "out" / "c.png").mkdir(parents=True)
    theirs = torch.zeros(1, 1, 8, 8)

    def restore(items):
        write_image(tmp_path / "out" / "b.png", theirs)  # the other run's output, meanwhile
        return [(x, None) for x in items]

    said = []
    tally = restore_files(jobs, _read_8x8, restore,
                          force=False, progress=False, say=said.append)
    assert (tally.done, tally.skipped, tally.failed) == (1, 1, 1)
    assert torch.equal(read_image(tmp_path / "out" / "b.png").image, theirs)
    assert any("appeared while" in line for line in said)
    assert any("c.png' is a folder" in line for line in said)


# ENOSPC: at once; EIO: two in a row; EFBIG (a file-size limit): that file only; EACCES:
# that folder's files, the others not restored
@pytest.mark.parametrize("code, failed, restored", [(28, 1, 2), (5, 2, 2), (27, 5, 5), (13, 5, 2)])
def test_a_run_that_cannot_write_stops_instead_of_restoring_the_rest(tmp_path, monkeypatch,
                                                                        code, failed, restored):
    # a full disk (or an output folder made unwritable) had every remaining file restored,
    # minutes each for a network prior, then each failed at its write
    import invprior.io
    from invprior.folders import find_jobs, restore_files

    for name in "abcde":
        write_image(tmp_path / "in" / f"{name}.png", torch.rand(1, 1, 8, 8))
    jobs = find_jobs([tmp_path / "in"], tmp_path / "out")
    done = []

    def full(path, *args, **kwargs):
        raise invprior.io.CannotWrite(f"cannot write '{path}': {os.strerror(code)}.", code)
    restore = _echoed(done)
    monkeypatch.setattr(invprior.io, "write_image", full)
    said = []
    tally = restore_files(jobs, _read_8x8, restore,
                          force=False, progress=False, say=said.append, max_values=2 * 64)
    left = 5 - failed
    assert (tally.done, tally.failed, tally.left) == (0, failed, left)
    assert len(done) == restored  # (not five files restored for nothing)
    stopped = [line for line in said if line.startswith("stopped:")]
    assert stopped == ([f"stopped: no output can be written ({left} files not reached); free "
                        "space or fix the output folder, then run the same command again to "
                        "resume."] if left else [])
    assert (f"left {left} (not reached)" in tally.line(tmp_path / "out")) == bool(left)


def test_a_folder_that_refuses_writes_fails_its_files_alone_and_ctrl_c_counts_the_rest(
        tmp_path, monkeypatch):
    # one read-only subfolder had stopped the whole run ("no output can be written"), and a
    # rerun stopped there again; an interrupted run's summary had left its files out
    import invprior.io
    from invprior.folders import find_jobs, restore_files

    for name in ("a/1", "a/2", "a/3", "b/1", "b/2"):
        write_image(tmp_path / "in" / f"{name}.png", torch.rand(1, 1, 8, 8))
    jobs = find_jobs([tmp_path / "in"], tmp_path / "out")
    (tmp_path / "out" / "a").mkdir(parents=True)  # (the folder that refuses its files)
    write = invprior.io.write_image

    def locked(path, *args, **kwargs):
        if Path(path).parent.name == "a":
            raise invprior.io.CannotWrite(f"cannot write '{path}': permission denied.", 13)
        return write(path, *args, **kwargs)

    done = []
    restore = _echoed(done)
    monkeypatch.setattr(invprior.io, "write_image", locked)
    said = []
    tally = restore_files(jobs, _read_8x8, restore,
                          force=False, progress=False, say=said.append, max_values=64)
    assert (tally.done, tally.failed, tally.left, len(done)) == (2, 3, 0, 3)
    assert sum("refused a write (permission denied)" in line for line in said) == 2
    assert (tmp_path / "out" / "b" / "2.png").is_file()
    # replacing an output (--force) that the folder keeps (a sticky folder, a file locked on
    # Windows): that file's own refusal, the others are restored
    for name in ("1", "2", "3"):
        write(tmp_path / "out" / "a" / f"{name}.png", torch.rand(1, 1, 8, 8))
    done.clear()
    tally = restore_files(jobs, _read_8x8, restore,
                          force=True, progress=False, say=said.append, max_values=64)
    assert (tally.done, tally.failed, len(done)) == (2, 3, 5)

    def stopped(items):
        if len(done) == 1:
            raise KeyboardInterrupt
        done.append(items)
        return [(x, None) for x in items]

    done.clear()
    monkeypatch.setattr(invprior.io, "write_image", write)
    tally = restore_files(jobs, _read_8x8, stopped,
                          force=True, progress=False, say=said.append, max_values=64)
    assert tally.interrupted and (tally.done, tally.failed, tally.unreached) == (1, 0, 4)
    assert "left 4 (interrupted)" in tally.line(tmp_path / "out")


def test_a_file_named_twice_is_restored_once(tmp_path, photos):
    from invprior.folders import find_jobs

    one = photos / "camera.png"
    jobs = find_jobs([one, str(one), photos / ".." / "photos" / "camera.png"], tmp_path / "out")
    assert [j.source for j in jobs] == [one]


def test_mask_and_kernel_files_are_inputs_never_images_or_outputs(tmp_path, capsys):
    """A --kernel (or --mask) beside the photos is not restored as one of them, and no
    output may replace it, --force or not."""
    root, out = tmp_path / "in", tmp_path / "out"
    write_image(root / "a.png", sample_image("camera", 32).mean(1, keepdim=True))
    kernel = write_image(root / "k.png", O.motion_kernel(5, 0.0)[None, None] / 0.2)
    assert main(["--op", "deblur", "--kernel", str(kernel), str(root), "-o", str(out),
                 "--iters", "2", "--quiet"]) == 0
    assert _outputs(out) == ["a.png"]
    stamp = kernel.read_bytes()
    # the kernel where an output would go: refused, not replaced
    assert main(["--op", "deblur", "--kernel", str(kernel), str(root / "a.png"), str(root / "k.png"),
                 "-o", str(root), "--iters", "2", "--quiet", "--force"]) == 2
    assert kernel.read_bytes() == stamp
    out2 = tmp_path / "out2"
    write_image(out2 / "a.png", torch.zeros(1, 1, 8, 8))
    k2 = write_image(out2 / "k2.png", O.motion_kernel(5, 0.0)[None, None] / 0.2)
    stamp = k2.read_bytes()
    write_image(tmp_path / "src" / "k2.png", sample_image("camera", 32).mean(1, keepdim=True))
    assert main(["--op", "deblur", "--kernel", str(k2), str(tmp_path / "src"), "-o", str(out2),
                 "--iters", "2", "--quiet", "--force"]) == 2
    assert "would overwrite an input" in capsys.readouterr().err and k2.read_bytes() == stamp


def test_a_shell_glob_that_reaches_the_output_folder_resumes(tmp_path, capsys):
    """``photos/*`` expands to the photos and photos/restored (an earlier run's output):
    the second run skips the done files instead of restoring its own results."""
    photos = tmp_path / "photos"
    for name in ("camera", "coffee"):
        write_image(photos / f"{name}.png", sample_image(name, 24))
    out = photos / "restored"
    run = ["--op", "denoise", "--noise-level", "0.05", "-o", str(out)]
    assert main([*run, *map(str, sorted(photos.iterdir()))]) == 0
    capsys.readouterr()
    assert main([*run, *map(str, sorted(photos.iterdir()))]) == 0
    assert "restored 0 files, skipped 2" in capsys.readouterr().out
    assert main([*run, str(photos / "**" / "*.png")]) == 0
    assert "skipped 2" in capsys.readouterr().out
    assert main(["--op", "denoise", str(out), "-o", str(out / "again")]) == 0
    capsys.readouterr()
    # a folder restored into one that holds it: its images are restored (they were all
    # left out as inside the output folder: "holds no image files"), existing names skipped
    assert main(["--op", "denoise", str(photos / "restored" / "again"), "-o", str(photos)]) == 0
    assert "restored 0 files, skipped 2" in capsys.readouterr().out
    (photos / "restored" / "again" / "new.png").write_bytes((photos / "coffee.png").read_bytes())
    assert main(["--op", "denoise", str(photos / "restored" / "again"), "-o", str(photos)]) == 0
    assert (photos / "new.png").exists()


def test_one_image_under_torchrun_is_restored_once(tmp_path, photos):
    """Each rank used to restore it; the second then found the output and failed."""
    out = tmp_path / "one.png"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", "-m", "invprior.solve", "--op", "denoise",
                           "--noise-level", "0.05", str(photos / "coffee.png"), "-o", str(out)],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.exists() and proc.stdout.count("wrote") == 1, proc.stdout


def test_a_noise_free_blur_in_a_batch_does_not_change_the_others_iterations():
    """Plug-and-play runs 32 iterations for a noise-free blur and 16 for a noisy one; in one
    batch the noise-free item used to set 32 for all, so a file's result depended on the
    other files of its folder."""
    A = O.Blur(sigma=1.0)
    x = torch.cat([sample_image(n, 32).mean(1, keepdim=True) for n in NAMES[:3]])
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)) * 0.03
    y = A(x) + noise * torch.tensor([0.0, 1.0, 1.0]).view(3, 1, 1, 1)
    prior = CNNPrior()
    together = prior.restore(y, A)
    assert [r.iterations for r in together.items] == [32, 16, 16]
    for b in range(3):
        alone = prior.restore(y[b : b + 1], A)
        torch.testing.assert_close(together.items[b].image, alone.image, atol=1e-4, rtol=0)


def test_a_folder_restored_by_the_deep_image_prior_shows_its_progress(tmp_path, capsys):
    """Minutes per image: the network's bar (and, past a minute, its time estimate) shows
    under the files' bar, as for one file; the fast priors show the files' bar only."""
    root = tmp_path / "in"
    write_image(root / "a.png", sample_image("camera", 24).mean(1, keepdim=True))
    assert main(["--op", "denoise", str(root), "-o", str(tmp_path / "out"), "--prior", "dip",
                 "--iters", "3", "--init", "none"]) == 0
    err = capsys.readouterr().err
    assert "dip:" in err and "0/3" in err and "file" in err, err[-500:]
    assert main(["--op", "denoise", str(root), "-o", str(tmp_path / "out2")]) == 0
    err = capsys.readouterr().err
    assert "file" in err and "it/s" not in err


def test_a_symlinked_subfolder_is_searched_and_a_link_loop_ends(tmp_path, photos):
    from invprior.folders import find_jobs

    elsewhere = tmp_path / "elsewhere"
    write_image(elsewhere / "linked.png", sample_image("brick", 16))
    (photos / "more").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(photos, target_is_directory=True)  # back up: a cycle
    outputs = [str(j.output.relative_to(tmp_path / "out")) for j in find_jobs([photos], tmp_path / "out")]
    assert "more/linked.png" in outputs
    assert outputs.count("camera.png") == 1 and not any("loop" in o for o in outputs)


def test_links_up_unreachable_entries_and_links_out_of_the_output_folder(tmp_path, photos,
                                                                          monkeypatch, capsys):
    # a downloaded folder's links: one to / had walked the whole disk into /proc and ended
    # the run; one that cannot be followed (/proc/1/cwd) ended it too; one inside the
    # output folder sent the restorations into the folder it leads to
    from pathlib import Path

    from invprior.folders import find_jobs

    (photos / "root").symlink_to("/", target_is_directory=True)
    (photos / "up").symlink_to(tmp_path, target_is_directory=True)
    said: list = []
    outputs = [str(j.output.relative_to(tmp_path / "out"))
               for j in find_jobs([photos], tmp_path / "out", unsearched=said)]
    assert not any(o.startswith(("root/", "up/")) for o in outputs) and "camera.png" in outputs
    assert sorted(Path(d).name for d, why in said) == ["root", "up"]  # (said, not silently)
    assert {why for _, why in said} == {"a link to a folder that holds this one"}
    (photos / "root").unlink()
    (photos / "up").unlink()
    is_file = Path.is_file

    def denied(path):
        if path.name == "locked.png":
            raise PermissionError(13, "Permission denied", str(path))
        return is_file(path)

    (photos / "locked.png").write_bytes(b"")
    monkeypatch.setattr(Path, "is_file", denied)
    assert main(["--op", "denoise", str(photos), "-o", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "cannot search '" in err and "locked.png': permission denied" in err, err
    assert (tmp_path / "out" / "sub" / "chelsea.png").is_file()
    monkeypatch.undo()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "sub").rename(tmp_path / "out" / "sub_before")
    (tmp_path / "out" / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ValueError, match="outside the output folder .* through a link"):
        find_jobs([photos], tmp_path / "out")
    # the output folder itself a link (to another disk): written through, as chosen
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert {"camera.png", "chelsea.png"} <= {j.output.name for j in find_jobs([photos], tmp_path / "linked")}


def test_two_files_of_one_output_fail_alone(tmp_path, photos, capsys):
    # camera.png beside camera.jpg: the whole folder had been refused for the pair
    write_image(photos / "camera.jpg", sample_image("camera", 48))
    assert main(["--op", "denoise", str(photos), "-o", str(tmp_path / "out"), "--quiet"]) == 1
    said = capsys.readouterr()
    assert said.err.count("camera.jpg' and '") == 2 and "would both be restored to" in said.err
    assert _outputs(tmp_path / "out") == ["astronaut.png", "coffee.png", "sub/chelsea.png"]
    assert said.err.count("failed: ") == 3  # (the pair and broken.png)


def test_names_apart_only_by_case_are_one_output_where_case_is_ignored(tmp_path, monkeypatch):
    # macOS and Windows: camera.PNG beside camera.jpg is one file there, and one restoration
    # had silently replaced the other (a case-insensitive file system, emulated by the key)
    from invprior import folders, io

    monkeypatch.setattr(io.sys, "platform", "darwin")
    assert io.name_key("a/Photo.PNG") == io.name_key("a/photo.png")
    monkeypatch.undo()
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "camera.PNG", sample_image("camera", 32))
    write_image(tmp_path / "in" / "camera.jpg", sample_image("camera", 32))
    write_image(tmp_path / "in" / "coffee.png", sample_image("coffee", 32))
    monkeypatch.setattr(folders, "name_key", lambda p: str(p).casefold())
    jobs = folders.find_jobs([tmp_path / "in"], tmp_path / "out")
    problems = {j.source.name: j.problem for j in jobs}
    assert problems["coffee.png"] is None
    assert all("would both be restored to" in (problems[n] or "") for n in ("camera.PNG", "camera.jpg"))


def test_an_output_that_is_an_input_under_another_spelling_is_refused(tmp_path, monkeypatch):
    # macOS: camera.jpg's output camera.png is the input CAMERA.PNG there (a case-insensitive
    # file system, emulated by the key), and --force had written over it
    from invprior import folders

    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    for name in ("camera.jpg", "CAMERA.PNG", "coffee.png"):
        write_image(tmp_path / "in" / name, sample_image("camera", 32))
    monkeypatch.setattr(folders, "name_key", lambda p: str(p).casefold())
    with pytest.raises(ValueError, match="would overwrite the input '.*CAMERA.PNG'"):
        folders.find_jobs([tmp_path / "in" / "camera.jpg", tmp_path / "in" / "CAMERA.PNG"],
                          tmp_path / "in")
    monkeypatch.undo()
    # a hard link is not one: replaced by a restoration, the input keeps its file
    os.link(tmp_path / "in" / "coffee.png", tmp_path / "out" / "camera.png")
    jobs = folders.find_jobs([tmp_path / "in"], tmp_path / "out")
    assert {j.source.name for j in jobs} == {"camera.jpg", "CAMERA.PNG", "coffee.png"}


def test_a_folder_met_twice_keeps_its_own_name_and_earlier_outputs_are_left_out(
        tmp_path, photos, capsys, monkeypatch):
    from invprior.folders import find_jobs

    (photos / "a_link").symlink_to(photos / "sub", target_is_directory=True)  # sorts first
    outputs = [str(j.output.relative_to(tmp_path / "out")) for j in find_jobs([photos], tmp_path / "out")]
    assert "sub/chelsea.png" in outputs and not any("a_link" in o for o in outputs)
    # restored in the photos' own folder twice: the second run leaves the first's results
    monkeypatch.chdir(photos)
    assert main(["--op", "denoise", ".", "--quiet"]) == 1  # broken.png
    assert main(["--op", "sr", "--factor", "2", ".", "--iters", "2", "--quiet"]) == 1
    assert "note: left out denoise_denoiser: the output folder of an earlier run" in \
        capsys.readouterr().err
    assert _outputs(photos / "sr_denoiser") == ["astronaut.png", "camera.png", "coffee.png",
                                                "sub/chelsea.png"]


def test_the_summary_says_how_many_files_the_time_limit_ended(tmp_path, capsys):
    # --max-seconds cut each file short without a word (--report takes one image)
    photos = tmp_path / "photos"
    for name, size in (("a.png", 24), ("b.png", 16)):
        write_image(photos / name, sample_image("camera", size))
    assert main(["--op", "deblur", "--sigma", "1", str(photos), "-o", str(tmp_path / "out"),
                 "--iters", "100000", "--max-seconds", "0.5"]) == 0
    assert "restored 2 files (2 ended by the time limit), skipped 0" in capsys.readouterr().out
    assert main(["--op", "deblur", "--sigma", "1", str(photos), "-o", str(tmp_path / "out2"),
                 "--iters", "2"]) == 0
    assert "restored 2 files, skipped 0" in capsys.readouterr().out


def test_an_earlier_run_into_a_named_folder_among_the_photos_is_left_out(tmp_path, capsys):
    """-o photos/restored then -o photos/restored2 had restored the first run's results
    again into the second (photos/restored2/restored/...): a folder a run makes is marked."""
    from invprior.folders import MARKER

    photos = tmp_path / "photos"
    for name, size in (("a.png", 24), ("b.png", 16)):
        write_image(photos / name, sample_image("camera", size))
    first, second = photos / "restored", photos / "restored2"
    argv = ["--op", "denoise", "--quiet", "--noise-level", "0.05"]
    assert main([*argv, str(photos), "-o", str(first)]) == 0
    assert (first / MARKER).is_file() and _outputs(first) == ["a.png", "b.png"]
    assert main([*argv, str(photos), "-o", str(second)]) == 0
    assert _outputs(second) == ["a.png", "b.png"]
    assert f"left out {first}: the output folder of an earlier run" in capsys.readouterr().err
    # named, a marked folder is restored (one run's results restored with another operator),
    # alone or beside another (a run of two named folders had restored only the other)
    assert main([*argv, str(first), "-o", str(tmp_path / "again")]) == 0
    assert _outputs(tmp_path / "again") == ["a.png", "b.png"]
    other = tmp_path / "other"
    write_image(other / "c.png", sample_image("coffee", 16))
    assert main([*argv, str(first), str(other), "-o", str(tmp_path / "two")]) == 0
    assert _outputs(tmp_path / "two") == ["other/c.png", "restored/a.png", "restored/b.png"]
    # inside a folder named, two earlier runs' results are left out
    assert main([*argv, str(photos), "-o", str(tmp_path / "many")]) == 0
    assert _outputs(tmp_path / "many") == ["a.png", "b.png"]
    err = capsys.readouterr().err
    assert f"left out {first}, {second}: the output folders of earlier runs" in err
    # so does a quoted pattern's search (photos/**/*.png had reached them: "a.png would be
    # restored twice"); a pattern inside one restores it
    assert main([*argv, f"{photos}/**/*.png", "-o", str(tmp_path / "globbed")]) == 0
    assert _outputs(tmp_path / "globbed") == ["a.png", "b.png"]
    assert f"left out {first}, {second}: the output folders" in capsys.readouterr().err
    assert main([*argv, f"{first}/*.png", "-o", str(tmp_path / "globbed2")]) == 0
    assert _outputs(tmp_path / "globbed2") == ["a.png", "b.png"]
    # every input the output folder: nothing to restore is said (it exited 0, restoring none)
    assert main([*argv, str(first), f"{first}/", "-o", str(first)]) == 2
    assert "nothing to restore" in capsys.readouterr().err
    # a folder that held files before the run is not marked (not ours to label)
    mine = tmp_path / "mine"
    write_image(mine / "note.png", torch.zeros(1, 1, 8, 8))
    assert main([*argv, str(photos / "a.png"), str(photos / "b.png"), "-o", str(mine)]) == 0
    assert not (mine / MARKER).exists()


def test_links_between_the_input_and_output_folders_neither_nest_nor_overwrite(tmp_path, photos,
                                                                              capsys):
    """A link in the photos to the output folder (or the output folder named through it):
    a rerun had restored the earlier results again, one level deeper each time. A link in
    the output folder to another photo: --force had written a restoration into that photo.
    A dangling link where an output goes: restored, then thrown away, at every run."""
    from invprior.folders import find_jobs

    out = tmp_path / "out"
    write_image(out / "results" / "camera.png", torch.zeros(1, 1, 8, 8))  # an earlier result
    (photos / "results").symlink_to(out, target_is_directory=True)
    for named in (out, photos / "results"):
        sources = [str(j.source.relative_to(photos)) for j in find_jobs([photos], named)]
        assert not any(src.startswith("results") for src in sources) and "camera.png" in sources
    other = tmp_path / "other"
    other.mkdir()
    (other / "astronaut.png").symlink_to(photos / "coffee.png")
    with pytest.raises(ValueError, match="would overwrite the input '.*coffee.png'"):
        find_jobs([photos], other)
    stamp = (photos / "coffee.png").read_bytes()
    assert main(["--op", "denoise", str(photos), "-o", str(other), "--force", "--quiet"]) == 2
    assert (photos / "coffee.png").read_bytes() == stamp
    dangling = tmp_path / "dangling"
    dangling.mkdir()
    (dangling / "coffee.png").symlink_to(tmp_path / "nowhere.png")
    assert main(["--op", "denoise", str(photos / "coffee.png"), str(photos / "camera.png"),
                 "-o", str(dangling)]) == 0
    assert (dangling / "coffee.png").is_symlink() and (dangling / "camera.png").is_file()
    said = capsys.readouterr()
    assert "restored 1 file, skipped 1" in said.out and "appeared while" not in said.err


def test_a_folder_of_many_sizes_holds_one_operator_at_a_time(tmp_path):
    """One compressed-sensing operator (its dense matrix up to 64 MiB) had been kept for
    every image size of a folder run, for the whole run: 14 MiB more per 64x64 file."""
    from invprior import cli

    args = cli.build_parser().parse_args(["--op", "cs", "--simulate", str(tmp_path), "-o", "o"])
    cli.fill_op_defaults(args)
    ops = {}
    for side in (24, 28, 24, 32):
        path = write_image(tmp_path / f"{side}.png", sample_image("camera", side).mean(1, keepdim=True),
                           overwrite=True)
        op = cli._read(args, path, ops)[1]
        assert list(ops.values()) == [op]


def test_a_black_and_white_photo_in_colour_is_restored_as_gray_in_a_folder(tmp_path, photos):
    # batched with a gray photo of its size, written back with its three channels
    camera = read_image(photos / "camera.png").image
    write_image(photos / "camera_rgb.png", camera.expand(-1, 3, -1, -1))
    out = tmp_path / "out"
    assert main(["--op", "denoise", str(photos / "camera.png"), str(photos / "camera_rgb.png"),
                 "-o", str(out), "--quiet"]) == 0
    gray, rgb = read_image(out / "camera.png").image, read_image(out / "camera_rgb.png").image
    assert rgb.shape == (1, 3, 48, 48) and torch.equal(rgb, gray.expand(-1, 3, -1, -1))


def test_a_folder_we_may_not_search_is_said_and_fails_the_run(tmp_path, photos, capsys, monkeypatch):
    # os.walk left it out without a word (exit 0); a path through one was a PermissionError
    # traceback (Path.exists raises it)
    from pathlib import Path

    scandir = os.scandir

    def locked(path="."):
        if str(path).endswith("sub"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", locked)
    out = tmp_path / "out"
    assert main(["--op", "denoise", str(photos), "-o", str(out)]) == 1
    said = capsys.readouterr()
    assert f"failed: cannot search '{photos / 'sub'}': permission denied (its files are left out)." in said.err
    assert "failed 1, 1 folder not searched in" in said.out  # (broken.png; no word of the folder)
    assert _outputs(out) == ["astronaut.png", "camera.png", "coffee.png"]
    # the folder not searched alone fails the run (above, broken.png did too)
    write_image(tmp_path / "fine" / "a.png", torch.rand(1, 1, 16, 16))
    write_image(tmp_path / "fine" / "sub" / "b.png", torch.rand(1, 1, 16, 16))
    assert main(["--op", "denoise", str(tmp_path / "fine"), "-o", str(tmp_path / "out3")]) == 1
    assert "failed 0, 1 folder not searched" in capsys.readouterr().out
    assert (tmp_path / "out3" / "a.png").is_file()
    # a folder whose only images are in it: that is said (it said "holds no image files")
    assert main(["--op", "denoise", str(photos / "sub"), str(photos / "broken.png"), "-o",
                 str(tmp_path / "out2")]) == 2
    assert capsys.readouterr().err == (f"error: cannot search '{photos / 'sub'}': permission "
                                       f"denied, and '{photos / 'sub'}' holds no other image files.\n")
    monkeypatch.undo()

    exists = Path.exists

    def unreachable(self, *args, **kwargs):
        if "locked" in str(self):
            raise PermissionError(13, "Permission denied", str(self))
        return exists(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", unreachable)
    assert main(["--op", "denoise", str(photos / "camera.png"), "-o",
                 str(tmp_path / "locked" / "x.png"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot reach '{tmp_path / 'locked'}") and err.count("\n") == 1
    assert err.endswith("': permission denied.\n")


def test_a_shells_photos_star_and_a_recursive_pattern_keep_the_folders_apart(tmp_path, capsys):
    """photos/* named an earlier run's output folder beside the photos (every file failed:
    its results met the originals'), and day1/img.png, day2/img.png both went to img.png."""
    photos = tmp_path / "photos"
    for where, name in (("day1", "camera"), ("day2", "coffee"), ("", "chelsea")):
        write_image(photos / where / ("top.png" if not where else "img.png"), sample_image(name, 16))
    argv = ["--op", "denoise", "--quiet", "--noise-level", "0.05"]
    star = sorted(str(p) for p in photos.iterdir())  # (as a shell expands photos/*)
    assert main([*argv, *star, "-o", str(photos / "first")]) == 0
    assert _outputs(photos / "first") == ["day1/img.png", "day2/img.png", "top.png"]
    star = sorted(str(p) for p in photos.iterdir())
    assert main([*argv, *star, "-o", str(photos / "second")]) == 0
    assert _outputs(photos / "second") == ["day1/img.png", "day2/img.png", "top.png"]
    assert f"left out {photos / 'first'}: the output folder of an earlier run" in capsys.readouterr().err
    assert main([*argv, str(photos / "**" / "*.png"), "-o", str(tmp_path / "pattern")]) == 0
    assert _outputs(tmp_path / "pattern") == ["day1/img.png", "day2/img.png", "top.png"]


def test_three_files_sharing_an_output_each_name_all_three(tmp_path):
    from invprior.folders import find_jobs

    import imageio.v3 as iio

    for suffix in (".jpg", ".png"):
        write_image(tmp_path / "in" / f"a{suffix}", sample_image("camera", 16))
    iio.imwrite(tmp_path / "in" / "a.bmp", np.zeros((16, 16), np.uint8))
    write_image(tmp_path / "in" / "b.png", sample_image("coffee", 16))
    jobs = {j.source.name: j for j in find_jobs([tmp_path / "in"], tmp_path / "out")}
    assert jobs["b.png"].problem is None
    problem = jobs["a.jpg"].problem
    assert all(jobs[f"a{suffix}"].problem == problem for suffix in (".png", ".bmp"))
    assert all(f"a{suffix}'" in problem for suffix in (".jpg", ".png", ".bmp"))
    assert "would all be restored to" in problem


def test_a_glob_reaches_each_file_once_through_linked_folders(tmp_path, photos, monkeypatch):
    # '**' follows links: a 'current -> .' link had restored each photo 40 times, into
    # ever deeper folders, and a linked subfolder's photos twice
    from invprior.folders import find_jobs

    (photos / "current").symlink_to(".", target_is_directory=True)
    (photos / "a_link").symlink_to("sub", target_is_directory=True)  # sorts before sub/
    (photos / "cover.png").symlink_to("camera.png")  # a link to a file stays, as in a folder
    monkeypatch.chdir(tmp_path)
    outputs = sorted(str(j.output.relative_to("out")) for j in find_jobs(["photos/**/*.png"], Path("out")))
    assert outputs == ["astronaut.png", "broken.png", "camera.png", "coffee.png", "cover.png",
                       "sub/chelsea.png"]


def test_an_output_folder_inside_the_input_that_holds_photos_is_refused(tmp_path, photos, capsys):
    # -o photos/2024 had restored photos/*.png among 2024's own photos, and not those,
    # without a word; a rerun into a folder of this run's outputs resumes
    (photos / "broken.png").unlink()
    shutil.copy(photos / "camera.png", photos / "sub" / "own.png")
    assert main(["--op", "denoise", str(photos), "-o", str(photos / "sub"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds images of its own" in err and "chelsea.png' and 1 more" in err
    assert sorted(p.name for p in (photos / "sub").iterdir()) == ["chelsea.png", "own.png"]
    out = photos / "out"
    out.mkdir()
    (out / "notes.txt").write_text("not empty: left unmarked")
    assert main(["--op", "denoise", str(photos), "-o", str(out), "--quiet"]) == 0
    assert main(["--op", "denoise", str(photos), "-o", str(out)]) == 0
    assert "restored 0 files, skipped 5 (output exists)" in capsys.readouterr().out


def test_an_output_folder_inside_the_input_resumes_with_an_input_gone_or_beside_another(tmp_path, photos, capsys):
    # found holding a README, the output folder had been left unmarked: a rerun after an
    # input was deleted counted its output as a photo of the folder's own, and refused;
    # and of two inputs only the first's outputs had been counted as this run's
    (photos / "broken.png").unlink()
    other = tmp_path / "other"
    write_image(other / "b.png", sample_image("brick", 32))
    out = photos / "out"
    out.mkdir()
    (out / "README.txt").write_text("restored photos")
    assert main(["--op", "denoise", str(photos), str(other), "-o", str(out), "--quiet"]) == 0
    assert (out / "other" / "b.png").is_file() and (out / ".invprior-output").is_file()
    (photos / "coffee.png").unlink()
    assert main(["--op", "denoise", str(photos), str(other), "-o", str(out)]) == 0
    assert "restored 0 files, skipped 4 (output exists)" in capsys.readouterr().out
