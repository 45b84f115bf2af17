"""Fetch the ADBench inputs that `srcad bench --sizes full` needs beyond those in the repository.

    python bench/fetch_adbench.py                        # from GitHub, at the pinned commit
    python bench/fetch_adbench.py --from PATH/TO/data    # copy from a local ADBench data/ folder
    python bench/fetch_adbench.py --all                  # every input in MANIFEST.sha256 (15 MB)

Files go to bench/data/adbench-full/ (untracked), where bench/workloads/_adbench.py looks for
them; each is checked against bench/data/adbench/MANIFEST.sha256 before it is kept. Only the
standard library is used.
"""

import argparse
import hashlib
import shutil
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "data" / "adbench" / "MANIFEST.sha256"
DESTINATION = HERE / "data" / "adbench-full"
COMMIT = "38cb7931303a830c3700ca36ba9520868327ac87"
GITHUB = f"https://raw.githubusercontent.com/microsoft/ADBench/{COMMIT}/data"
# the full sizes of bench/workloads/ (gmm, gmm_vec, lstm) not kept in the repository
FULL = ("gmm/1k/gmm_d20_K50.txt", "gmm/1k/gmm_d64_K10.txt", "gmm/10k/gmm_d10_K25.txt",
        "lstm/lstm_l4_c1024.txt")


DATA_FOLDERS = ("gmm/", "ba/", "lstm/", "hand/")  # ADBench's inputs, as opposed to our notes


def manifest():
    """{relative path: sha256} from MANIFEST.sha256 (`sha256  ./relative/path` lines)."""
    entries = {}
    for line in MANIFEST.read_text().splitlines():
        digest, _, name = line.strip().partition("  ")
        if digest and name:
            entries[name.removeprefix("./")] = digest
    return entries


def fetch(relative, source, destination, expected):
    """Copy or download one file, keep it only if its checksum is the manifest's."""
    target = destination / relative
    if target.is_file() and _sha256(target.read_bytes()) == expected:
        return f"{relative}: already there"
    if "://" in source:
        with urllib.request.urlopen(f"{source.rstrip('/')}/{relative}", timeout=60) as response:
            data = response.read()
    else:
        data = (Path(source) / relative).read_bytes()
    if _sha256(data) != expected:
        raise ValueError(f"{relative}: checksum differs from {MANIFEST.name}; not kept")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(target)
    return f"{relative}: {len(data) / 1e3:.0f} kB"


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python bench/fetch_adbench.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", default=GITHUB,
                        help="a URL or a local folder laid out like ADBench's data/ "
                             "(default: GitHub at the pinned commit)")
    parser.add_argument("--to", dest="destination", type=Path, default=DESTINATION,
                        help=f"where to put the files (default {DESTINATION})")
    parser.add_argument("--all", action="store_true",
                        help="every input file of the manifest (gmm, ba, lstm, hand)")
    opts = parser.parse_args(argv)
    entries = manifest()
    wanted = sorted(e for e in entries if e.startswith(DATA_FOLDERS)) if opts.all else FULL
    failed = 0
    for relative in wanted:
        try:
            print(fetch(relative, opts.source, opts.destination, entries[relative]))
        except (OSError, ValueError) as exc:
            failed += 1
            print(f"{relative}: {exc}", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(wanted)} files not fetched", file=sys.stderr)
        return 1
    if opts.destination.resolve() != DESTINATION.resolve():
        print(f"set SRCAD_ADBENCH_DIR={opts.destination} for srcad bench to find them")
    # keep the licence with the data
    shutil.copyfile(MANIFEST.parent / "LICENSE-ADBench.txt",
                    opts.destination / "LICENSE-ADBench.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
