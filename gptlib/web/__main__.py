"""``python -m gptlib.web export OUT_DIR [--model shakespeare|FOLDER] [--dtype float16]``: write the
model folder a page loads (see gptlib.web)."""

import argparse

from . import DTYPES, export_page_model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gptlib.web", description="files for the live model in the page")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write config.json, model.safetensors and the tokenizer into OUT_DIR")
    export.add_argument("out_dir", metavar="OUT_DIR")
    export.add_argument("--model", default="shakespeare", help="'shakespeare' (default) or a checkpoint folder")
    export.add_argument("--dtype", default="float16", choices=DTYPES, help="the weights' dtype (default float16)")
    args = parser.parse_args(argv)
    out = export_page_model(args.model, args.out_dir, args.dtype)
    for path in sorted(out.iterdir()):
        print(f"{path}  {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
