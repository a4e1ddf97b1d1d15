"""The benchmark writer: a run of some sections keeps the other blocks of the file."""

import os
import re
import subprocess
import sys

import pytest
import torch

from invprior.bench.run import WRITTEN_BY, main

OURS = f"# Benchmarks\n\n{WRITTEN_BY}; each block says which run measured it.\n"  # the header


def fake_solve(monkeypatch, interrupt_at: int = 0, run: str = "call") -> list:
    """``invprior.api.solve`` made instant (the observation back, clipped, as if restored in
    3 iterations; its stop reason ``{run} n`` at its n-th call), and Ctrl-C'd at its
    ``interrupt_at``-th call: the Result that solve then returns, ``interrupted``. The list
    of the priors asked comes back."""
    from invprior import api
    from invprior.result import Result

    calls = []

    def solve(y, op, prior="auto", **options):
        calls.append(prior)
        y = y[0] if isinstance(y, tuple) else y  # (a stack's: its first part)
        if len(calls) == interrupt_at:
            return Result(y.clamp(0, 1), stop_reason="interrupted (Ctrl-C)", interrupted=True)
        return Result(y.clamp(0, 1), iteration=3, iterations=3, stop_reason=f"{run} {len(calls)}")

    monkeypatch.setattr(api, "solve", solve)
    return calls


def fixed_table(path) -> str:
    return path.read_text().split("## Fixed cases", 1)[1].split("\n## ")[0]


def test_partial_rerun_keeps_the_other_blocks(tmp_path, capsys):
    out = tmp_path / "BENCH.md"
    assert main(["--sections", "operators", "-o", str(out)]) == 0
    operators = out.read_text().split("## Operators", 1)[1]
    assert "| Blur sigma 2 (circular) |" in operators
    assert main(["--sections", "classical", "--cases", "sr4_camera", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.split("## Operators", 1)[1] == operators  # kept as measured, provenance too
    fixed = text.split("## Fixed cases", 1)[1].split("## Operators")[0]
    assert "--sections classical" in fixed and re.search(r"\| sr4_camera \| bicubic \| [\d.]+ \|", fixed)


def test_rerun_of_one_section_keeps_the_other_rows_of_the_fixed_table(tmp_path, capsys):
    out = tmp_path / "BENCH.md"
    assert main(["--sections", "classical", "--cases", "sr4_camera,deblur_camera", "-o", str(out)]) == 0
    text = out.read_text()
    measured = re.search(r"\| sr4_camera \| bicubic \| ([\d.]+) \|", text)[1]
    text = text.replace("| sr4_camera | bicubic |", "| sr4_camera | **denoiser (plug-and-play trained CNN), CLI default** |")
    out.write_text(text)  # as if the denoiser section had written that row
    assert main(["--sections", "classical", "--cases", "deblur_camera", "-o", str(out)]) == 0
    fixed = out.read_text().split("## Fixed cases", 1)[1].split("\n## ")[0]
    assert f"| sr4_camera | **denoiser (plug-and-play trained CNN), CLI default** | {measured} |" in fixed
    assert "kept from the earlier runs" in fixed and fixed.count("| deblur_camera |") == 1
    assert "| sr4_camera | bicubic |" not in fixed  # the classical rows are this run's


def test_a_heading_inside_a_kept_block_stays_with_it(tmp_path, capsys):
    out = tmp_path / "BENCH.md"
    out.write_text(OURS + "\n## Trained priors\n\nrow 1\n\n## details\n\nrow 2\n")
    assert main(["--sections", "operators", "-o", str(out)]) == 0
    trained = out.read_text().split("## Trained priors", 1)[1]
    assert "row 1" in trained and "## details" in trained and "row 2" in trained


@pytest.mark.parametrize("args,message", [
    (["--sections", "nope"], "unknown section nope; the sections are operators, dip,"),
    (["--sections", "dip", "--priors", "bogus"], "--priors takes dip and/or decoder"),
    (["--sections", "dip", "--priors", ""], "untrained priors), got ''"),  # (ran both)
    (["--sections", "denoiser", "--priors", "dip"], "add dip to --sections"),
    (["--sections", "dip", "--device", "bogus"], "unknown device"),
    (["--sections", "operators", "-o", "."], "is a folder"),
])
def test_bad_arguments_are_refused_before_any_work(tmp_path, capsys, args, message):
    # each ran a section first (minutes) and then failed with a traceback, or ran anyway
    out = ["-o", str(tmp_path / "b.md")] if "-o" not in args else []
    assert main([*args, *out]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "b.md").exists()


def test_sections_that_need_scikit_learn_say_so_before_any_work(tmp_path, capsys, monkeypatch):
    # a plain install (no [train] extra): the sparse section measured for 45 s, then ended
    # in a traceback (No module named 'sklearn'); the trained section at once
    import invprior.bench.run as run

    monkeypatch.setattr(run, "find_spec", lambda name: None if name == "sklearn" else object())
    assert main(["--sections", "operators,sparse,trained", "-o", str(tmp_path / "b.md")]) == 2
    err = capsys.readouterr().err
    assert err == ("error: the sparse and trained sections need scikit-learn (a baseline; the "
                   "digits set), which is not installed: pip install scikit-learn, or run "
                   "--sections operators.\n")
    assert not (tmp_path / "b.md").exists()


def test_a_run_loses_nothing_it_did_not_measure(tmp_path, capsys, monkeypatch):
    """A section that skips (no GPU, no ../shared/testsets here) keeps its earlier block;
    --quick rows never replace full ones; a file the benchmark did not write is kept
    unless --force. Each of these had wiped published tables or a user's notes."""
    out = tmp_path / "BENCH.md"
    out.write_text(OURS + "\n## Super-resolution x4, Set5 (../shared/testsets)\n\n"
                   "_Measured by `python -m invprior.bench --sections set5` on a day._\n\n| 30.68 |\n")
    monkeypatch.chdir(tmp_path)  # where ../shared/testsets is not
    assert main(["--sections", " set5 ", "-o", str(out)]) == 0  # (spaces around a name: fine)
    assert "| 30.68 |" in out.read_text() and "kept the earlier" in capsys.readouterr().out
    assert main(["--sections", "operators", "--quick", "-o", str(out)]) == 2
    assert "holds full measurements" in capsys.readouterr().err and "| 30.68 |" in out.read_text()
    notes = tmp_path / "notes.md"
    notes.write_text("# My lab notebook\n")
    assert main(["--sections", "", "-o", str(notes)]) == 2
    assert "not written by this benchmark" in capsys.readouterr().err
    assert notes.read_text() == "# My lab notebook\n"
    assert main(["--sections", "", "-o", str(notes), "--force"]) == 0  # the policy block alone
    assert "## What auto picks" in notes.read_text() and "## Operators" not in notes.read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="measured for real where CUDA is")
def test_gpu_section_says_it_skipped_without_cuda(capsys):
    from invprior.bench import scale

    assert scale.run_gpu(quick=True) == []
    assert "no CUDA device" in capsys.readouterr().out
    assert "skipped" in scale.markdown([])


def test_precision_rows_and_their_table_run(tmp_path):
    # the precision rows, smoke-run on the CPU through CPU autocast (the number formats of
    # the GPU): half precision changes the denoised image by far less than 0.05 dB
    from invprior.bench import scale

    rows = scale._precision("cpu", quick=True)
    assert [r["precision"] for r in rows] == ["float32", "float16", "bfloat16"]
    assert max(abs(r["psnr"] - rows[0]["psnr"]) for r in rows) < 0.05
    assert rows[0]["psnr"] > 25
    assert "| float16 |" in scale.markdown(rows)


def test_stacked_deep_image_prior_rows_and_their_table_run():
    # the GPU section's deep-image-prior rows, smoke-run on the CPU with a tiny network (the
    # stack forced): the code path the GPU run takes, numbers meaningless
    from invprior.bench import scale, stacking

    rows = stacking.run(device="cpu", quick=True)
    assert {r["kind"] for r in rows} == {"step", "stack", "case", "host"}
    assert [(r["runs"], r["graphs"]) for r in rows if r["kind"] == "host"] == [
        (1, True), (4, True), (1, False), (4, False)]
    cases = [r for r in rows if r["kind"] == "case"]
    assert [r["precision"] for r in cases] == ["float32", "bfloat16"]
    assert abs(cases[0]["psnr"] - cases[1]["psnr"]) < 0.5 and cases[0]["iterations"] == 5
    text = scale.markdown(rows)
    assert "| one stack |" in text and "| 32x32, CUDA graphs |" in text and "| 4 runs |" in text


def test_hard_cases_rows_and_the_auto_mark(capsys):
    from invprior.bench.hard import markdown, run_holes, run_nonlinear

    rows = run_holes(quick=True, cases=("boxes_camera",), priors=("denoiser", "inpainter", "dip"),
                     widths=False)
    rows += run_nonlinear(quick=True, cases=("overexposed_camera", "gamma_camera"), priors=("denoiser", "dip"))
    methods = [(r["case"], r["method"]) for r in rows]
    assert ("boxes_camera", "trained inpainter (auto)") in methods  # holes of radius 27
    # a user's own operator, even one that hides a third of camera: plug-and-play
    assert ("overexposed_camera", "plug-and-play CNN (auto)") in methods
    assert ("gamma_camera", "plug-and-play CNN (auto)") in methods
    assert all(r["hidden"] is None for r in rows if r["case"] == "gamma_camera")
    holes = [r for r in rows if r["case"] == "boxes_camera"]
    assert all(r["hidden"] < r["psnr"] for r in holes)  # the holes are where the error is
    text = markdown(rows)
    assert text.count("\n| ") == len(rows) and "(auto)" in text


def test_hole_width_rows_become_their_own_table():
    from invprior.bench.hard import markdown, run_hole_widths

    rows = run_hole_widths(quick=True)  # one width per image, plug-and-play 4 iterations
    assert [(r["image"], r["width"]) for r in rows] == [("camera", 3), ("coffee", 3)]
    assert all(0 < r["radius"] < 3 and r["inpainter"] > 15 and r["auto"] == "denoiser" for r in rows)
    text = markdown(rows)
    assert "Hole widths" in text and text.count("| camera |") == 1


def test_auto_policy_table_is_computed_from_the_code():
    from invprior.bench.policy import examples, markdown

    picks = {problem.split(" (")[0]: choice for problem, _, _, choice in examples()}
    assert picks["your own nonlinear operator that hides pixels"] == "denoiser"
    assert picks["inpaint, a large hole in a larger photo"] == "inpainter"  # it tiles
    assert picks["inpaint, a binary mask with a hole 16+ pixels in"] == "inpainter"
    assert [c for p, c in picks.items() if p.startswith("inpaint, a soft mask")] == ["dip"]
    assert markdown().count("\n| ") == len(picks)  # one row each (the header starts the text)


def test_jpeg_section_smoke_run_on_one_photo(tmp_path, capsys):
    # the section on a stand-in Kodak24 folder of one photo (the real one is in ../shared)
    import skimage.data
    import torch

    from invprior.bench import jpeg
    from invprior.io import write_image

    (tmp_path / "kodak24").mkdir()
    photo = torch.from_numpy(skimage.data.astronaut()).float().div(255).permute(2, 0, 1)[None]
    write_image(tmp_path / "kodak24" / "kodim01.png", photo)
    rows = jpeg.run(quick=True, root=tmp_path)
    assert [(r["quality"], r["images"]) for r in rows] == [(95, 1), (85, 1)]
    # the CLI's level adds the JPEG's share to the reading: never below it
    assert all(r["cli_level"] >= r["read"] for r in rows)
    assert "| deblur, gaussian 2, noise 0.01 | 85 |" in jpeg.markdown(rows)
    # a photo smaller than the crop is left out, said (had been a traceback); a gray one is read
    capsys.readouterr()
    write_image(tmp_path / "kodak24" / "kodim01.png", photo[..., :48, :48], overwrite=True)
    assert jpeg.run(quick=True, root=tmp_path) == []
    assert "leaving out kodim01.png: 48x48, smaller than the 64x64 crop" in capsys.readouterr().out
    write_image(tmp_path / "kodak24" / "kodim01.png", photo[:, :1], overwrite=True)
    assert [r["images"] for r in jpeg.run(quick=True, root=tmp_path)] == [1, 1]


def test_ctrl_c_ends_the_run_and_keeps_what_was_measured(tmp_path, capsys, monkeypatch):
    # solve answers Ctrl-C with its best estimate so far: that had been written as a row
    # (the noisy input's PSNR), and the run had gone on and exited 0
    out = tmp_path / "BENCH.md"
    fake_solve(monkeypatch, run="first")
    assert main(["--sections", "denoiser", "--cases", "denoise_camera,denoise_astronaut",
                 "-o", str(out)]) == 0
    calls = fake_solve(monkeypatch, interrupt_at=2, run="second")
    assert main(["--sections", "denoiser,dip", "--cases", "denoise_astronaut,denoise_camera",
                 "-o", str(out)]) == 130
    assert len(calls) == 2  # nothing after Ctrl-C
    err = capsys.readouterr().err
    assert "interrupted (Ctrl-C)" in err and err.count("\n") == 1 and "Traceback" not in err
    fixed = fixed_table(out)
    assert re.search(r"\| denoise_astronaut \| .*denoiser.* \| second 1 \|", fixed)  # measured
    # the case under way keeps its earlier row, and its dip rows (never measured) stay absent
    assert re.search(r"\| denoise_camera \| .*denoiser.* \| first 1 \|", fixed)
    assert "interrupted" not in fixed and "| dip |" not in fixed and "**dip" not in fixed
    assert fixed.count("| denoise_camera |") == 1 and fixed.count("| denoise_astronaut |") == 1


def test_ctrl_c_before_any_row_writes_nothing(tmp_path, capsys, ctrl_c_at):
    import invprior.bench.run as run

    ctrl_c_at(run, "load_case", 1)
    assert main(["--sections", "classical", "--cases", "sr4_camera", "-o", str(tmp_path / "b.md")]) == 130
    assert "before anything was measured" in capsys.readouterr().err
    assert not (tmp_path / "b.md").exists()


def test_ctrl_c_in_a_section_block_keeps_its_earlier_block(tmp_path, capsys, monkeypatch):
    from invprior.io import write_image

    # (--testsets: the set is found there; had it not been, nothing was measured and exit 0)
    write_image(tmp_path / "sets" / "set5" / "a.png", torch.rand(1, 3, 64, 64))
    out = tmp_path / "BENCH.md"
    out.write_text(OURS + "\n## Super-resolution x4, Set5 (../shared/testsets)\n\n"
                   "_Measured by `python -m invprior.bench --sections set5 --quick` on a day._\n\n| 30.68 |\n")
    fake_solve(monkeypatch, interrupt_at=1)
    assert main(["--sections", "operators,set5", "--quick", "-o", str(out),
                 "--testsets", str(tmp_path / "sets")]) == 130
    text = out.read_text()
    assert "| 30.68 |" in text and "| Blur sigma 2 (circular) |" in text  # operators: measured
    assert "wrote what was measured before it" in capsys.readouterr().err


def test_the_stacks_section_measures_a_stack_above_its_parts(capsys):
    from invprior.bench.stacks import markdown, run

    rows = run(quick=True, cases=("blurmask_camera",))
    by = {r["method"].split(" (")[0]: r for r in rows}
    assert set(by) == {"auto", "auto, noise 0.02 told", "deep image prior", "auto on one part"}
    assert rows[0]["method"] == "auto (denoiser)"
    # both measurements together beat the better one alone (33.5 against 31.3 dB here)
    assert by["auto"]["psnr"] > by["auto on one part"]["psnr"] + 1.0, rows
    assert markdown(rows).count("\n| ") == len(rows)


@pytest.mark.parametrize("section", ["jpeg", "set5", "standard", "nonlinear", "stacking",
                                     "stacks", "shot", "trained"])
def test_every_section_stops_at_an_interrupted_solve(tmp_path, monkeypatch, section):
    from invprior.bench import hard, jpeg, set5, shot, stacking, stacks, standard, trained
    from invprior.io import write_image

    for folder in ("kodak24", "set5", "set12"):
        image = torch.rand(1, 1 if folder == "set12" else 3, 96, 96)
        write_image(tmp_path / folder / "a.png", image)
    fake_solve(monkeypatch, interrupt_at=1)
    run = {"jpeg": lambda: jpeg.run(quick=True, root=tmp_path),
           "set5": lambda: set5.run(quick=True, root=tmp_path),
           "standard": lambda: standard.run(quick=True, root=tmp_path),
           "nonlinear": lambda: hard.run_nonlinear(quick=True, cases=("gamma_camera",), priors=("dip",)),
           "stacking": lambda: stacking._whole_runs("cpu", quick=True),
           "stacks": lambda: stacks.run(quick=True, cases=("motions_camera",)),
           "shot": lambda: shot.run(quick=True),
           "trained": lambda: trained.run(quick=True, methods=("dip",), digits=2)}[section]
    with pytest.raises(KeyboardInterrupt):
        run()


def test_ctrl_c_in_a_scale_command_ends_the_bench(monkeypatch):
    import subprocess

    from invprior.bench import scale

    # the command's own answer to Ctrl-C (exit 130) had been "failed": a traceback
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 130, "", ""))
    with pytest.raises(KeyboardInterrupt):
        scale._measure(["x.png"])


def test_a_file_of_another_project_is_not_replaced(tmp_path, capsys):
    # "# Benchmarks" is many a project's first line; -o defaults to BENCHMARKS.md here
    theirs = tmp_path / "BENCHMARKS.md"
    theirs.write_text("# Benchmarks\n\nOur own numbers.\n\n## Trained priors\n\ntheir table\n")
    assert main(["--sections", "", "-o", str(theirs)]) == 2
    assert "not written by this benchmark" in capsys.readouterr().err
    assert theirs.read_text().startswith("# Benchmarks\n\nOur own numbers.")
    assert main(["--sections", "", "-o", str(theirs), "--force"]) == 0  # replaced: none of it kept
    assert "their table" not in theirs.read_text() and WRITTEN_BY in theirs.read_text()


def test_device_reaches_every_fixed_case_row_and_the_gpu_is_named_only_when_used(
        tmp_path, capsys, monkeypatch):
    """--device had reached the dip rows alone (the denoiser rows ran on CUDA under --device
    cpu), and the provenance named the GPU whenever one was there, used or not."""
    from invprior import api

    devices = []
    fake_solve(monkeypatch)
    faked = api.solve
    monkeypatch.setattr(api, "solve", lambda *a, **kw: devices.append(kw.get("device")) or faked(*a, **kw))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Fake GPU")
    out = tmp_path / "BENCH.md"
    assert main(["--sections", "denoiser,dip", "--priors", "dip", "--cases", "denoise_camera",
                 "--device", "cpu", "-o", str(out)]) == 0
    assert devices == ["cpu", "cpu"]
    assert "Fake GPU" not in out.read_text()


def test_a_rerun_of_one_prior_keeps_the_other_priors_rows(tmp_path, capsys, monkeypatch):
    out = tmp_path / "BENCH.md"
    fake_solve(monkeypatch)
    assert main(["--sections", "dip", "--cases", "denoise_camera", "-o", str(out)]) == 0
    assert main(["--sections", "dip", "--priors", "decoder", "--cases", "denoise_camera",
                 "-o", str(out)]) == 0
    fixed = fixed_table(out)
    assert re.search(r"\| denoise_camera \| (\*\*)?dip(, CLI default\*\*)? \| .* \| call 1 \|", fixed)
    assert re.search(r"\| denoise_camera \| decoder \| .* \| call 3 \|", fixed)  # this run's
    assert "call 2" not in fixed and fixed.count("| denoise_camera |") == 2


def test_a_hand_edited_table_is_merged_not_crashed_on(tmp_path, capsys):
    out = tmp_path / "BENCH.md"
    assert main(["--sections", "classical", "--cases", "sr4_camera,deblur_camera", "-o", str(out)]) == 0
    text = out.read_text()
    wiener = re.search(r"\| deblur_camera \| skimage Wiener[^|]*\| ([\d.]+) \|.*", text)
    gone = "| old_case | bicubic | 20.00 | 0.500 | 1.0 |  |  |  |  |  |"
    out.write_text(text.replace(wiener[0], wiener[0].replace(wiener[1], "n/a") + "\n" + gone))
    assert main(["--sections", "classical", "--cases", "sr4_camera", "-o", str(out)]) == 0
    fixed = fixed_table(out)
    rows = [line for line in fixed.splitlines() if line.startswith("| ") and "|---" not in line]
    assert "| skimage Wiener (balance 0.003) | n/a |" in fixed  # kept as it was
    assert rows[-1] == gone  # a case that is no more: kept, last


def test_abbreviations_are_refused_and_the_quick_guard_reads_words(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:  # "--qui" had run as --quick and been recorded so
        main(["--sections", "", "--qui", "-o", str(tmp_path / "b.md")])
    assert exit.value.code == 2 and not (tmp_path / "b.md").exists()
    capsys.readouterr()
    block = OURS + "\n## Operators\n\n_Measured by `python -m invprior.bench --sections operators {}` on a day._\n"
    quick, full = tmp_path / "quick.md", tmp_path / "full--quick.md"
    quick.write_text(block.format("--qui"))  # written before: a quick run
    full.write_text(block.format(f"-o {full}"))  # a full run, "--quick" in its file's name
    assert main(["--sections", "", "--quick", "-o", str(quick)]) == 0
    assert main(["--sections", "", "--quick", "-o", str(full)]) == 2
    assert "holds full measurements" in capsys.readouterr().err


def test_a_case_asked_twice_runs_once(tmp_path, capsys):
    out = tmp_path / "BENCH.md"
    assert main(["--sections", "classical,classical", "--cases", "sr4_camera,sr4_camera",
                 "-o", str(out)]) == 0
    assert capsys.readouterr().out.count("bicubic") == 1
    assert fixed_table(out).count("| sr4_camera | bicubic |") == 1


def test_trained_section_prints_its_rows_as_it_goes(tmp_path, capsys, monkeypatch):
    from invprior.bench import trained

    asked = []
    monkeypatch.setattr(trained, "run", lambda **options: asked.append(options) or [])
    assert main(["--sections", "trained", "--quick", "-o", str(tmp_path / "b.md")]) == 0
    assert asked == [{"quick": True, "verbose": True}]


def test_set5_table_says_the_threads_it_ran_on():
    from invprior.bench import set5

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        text = set5.markdown([{"method": "bicubic", "psnr": 28.0, "noise": 0, "seconds": 0.1, "images": 5}])
    finally:
        torch.set_num_threads(threads)
    assert "on the CPU (3 threads)" in text


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_an_output_that_is_a_device_is_neither_read_nor_a_traceback(tmp_path, capsys):
    # -o through a link to /dev/full was read for ever (killed at 48 s), then a traceback
    (tmp_path / "B.md").symlink_to("/dev/full")
    assert main(["--sections", "operators", "--quick", "-o", str(tmp_path / "B.md"), "--force"]) == 2
    assert capsys.readouterr().err.endswith("no space left on device.\n")


@pytest.mark.skipif(torch.cuda.is_available(), reason="says so only without a GPU")
def test_no_gpu_is_said_in_flags(tmp_path, capsys):
    # it said "device='cuda' ...; use device='cpu'" (the Python API's words)
    assert main(["--device", "cuda", "--sections", "operators", "-o", str(tmp_path / "b.md")]) == 2
    assert "--device cuda was asked for" in capsys.readouterr().err and not (tmp_path / "b.md").exists()


def test_a_test_sets_folder_named_but_missing_is_refused(tmp_path, capsys):
    # a typo in --testsets had run the sections, found nothing and exited 0
    assert main(["--sections", "standard", "--testsets", str(tmp_path / "typo"),
                 "-o", str(tmp_path / "b.md")]) == 2
    assert f"--testsets '{tmp_path / 'typo'}' is not a folder." in capsys.readouterr().err


def test_an_output_through_a_folder_we_may_not_search_is_one_sentence(locked, capsys):
    # Path.exists raised PermissionError: a traceback
    assert main(["--sections", "operators", "--quick", "-o", str(locked / "B.md")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: cannot reach '{locked / 'B.md'}': permission denied.\n", err


def test_quick_rows_are_not_set_beside_the_published_numbers():
    # two crops of 96x96 (64x64 for Set5) beside the whole sets' published numbers misled
    from invprior.bench import set5, standard

    row = {"set": "set12", "method": "ours", "sigma": 25, "images": 2, "psnr": 31.0, "seconds": 0.1}
    for quick in (False, True):
        table = standard.markdown([dict(row, quick=quick)])
        assert ("DnCNN (published)" in table) is not quick and ("--quick" in table) is quick
        table = set5.markdown([dict(row, noise=0, quick=quick)])
        assert ("(published)" in table) is not quick and ("--quick" in table) is quick


def test_the_peak_memory_wrapper_runs_where_there_is_no_resource_module(tmp_path):
    # Windows has no `resource`: the scale section had ended in a traceback there
    from invprior.bench.scale import WRAPPER

    (tmp_path / "resource.py").write_text("raise ImportError('no resource here')\n")
    child = [sys.executable, "-c", "raise SystemExit(3)"]
    there = subprocess.run([sys.executable, "-c", WRAPPER, *child], capture_output=True, text=True)
    assert there.returncode == 3 and int(there.stdout.split()[1]) > 2**20  # bytes, not KiB
    gone = subprocess.run([sys.executable, "-c", WRAPPER, *child], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert gone.returncode == 3 and "PEAK" not in gone.stdout and not gone.stderr
