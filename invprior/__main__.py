"""``python -m invprior``: the package's commands, one line each (it failed with "No module
named invprior.__main__")."""

import sys

COMMANDS = (
    ("python -m invprior.solve --op OP IMAGE", "restore an image, a folder or a glob"),
    ("python -m invprior.train --out PRIOR.pt", "train a prior or a denoiser"),
    ("python -m invprior.bench", "measure quality and speed into BENCHMARKS.md"),
)

if __name__ == "__main__":
    from invprior.console import steady_streams

    steady_streams()  # ("python -m invprior --help | :" had ended in a BrokenPipeError traceback)
    asked = sys.argv[1:]
    if asked == ["--version"]:  # (it had pointed to "python -m invprior.solve --version", no flag)
        from invprior import __version__

        print(f"invprior {__version__}")
        sys.exit(0)
    if asked and asked[0] not in ("-h", "--help"):  # ("python -m invprior solve ..." did nothing, exit 0)
        name = asked[0] if asked[0] in ("solve", "train", "bench") else "solve"
        print(f"error: python -m invprior runs no command; use python -m invprior.{name} "
              f"{' '.join(asked[1:] if asked[0] == name else asked)}".rstrip() + ".",
              file=sys.stderr)
        sys.exit(2)
    print("invprior: imaging inverse problems with deep generative priors. Commands (--help "
          "on each):")
    for command, what in COMMANDS:
        print(f"  {command:42s} {what}")
    sys.exit(0)
