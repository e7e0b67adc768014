"""Command line: ``python -m gptlib seed DIR`` fills the download cache from a folder;
``python -m gptlib fetch`` downloads every data file that is missing."""

import argparse

from .data import KNOWN_FILES, cache_dir, fetch, seed_cache


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gptlib", description="gptlib's download cache")
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("seed", help="copy the known data files found in DIR into the cache")
    seed.add_argument("folder", metavar="DIR")
    commands.add_parser("fetch", help="download every known data file that is missing")
    args = parser.parse_args(argv)
    print(f"cache folder: {cache_dir()}")
    if args.command == "seed":
        for path in seed_cache(args.folder):
            print(f"seeded {path}")
    else:
        for name in KNOWN_FILES:
            print(f"ok {fetch(name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
