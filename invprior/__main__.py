"""``python -m invprior``: the package's commands, one line each (it failed with "No module
named invprior.__main__")."""

import sys

COMMANDS = (
    ("python -m invprior.solve --op OP IMAGE", "restore an image, a folder or a glob"),
    ("python -m invprior.train --out PRIOR.pt", "train a prior or a denoiser"),
    ("python -m invprior.bench", "measure quality and speed into BENCHMARKS.md"),
)

if __name__ == "__main__":
    print("invprior: imaging inverse problems with deep generative priors. Commands (--help "
          "on each):")
    for command, what in COMMANDS:
        print(f"  {command:42s} {what}")
    sys.exit(0)
