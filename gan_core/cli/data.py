"""``python -m gan_core data import|list|delete|restore|trash|empty-trash|download``."""
from __future__ import annotations

import argparse
import sys

from gan_core.data.catalogue import download_builtin, list_datasets
from gan_core.data.images import DatasetInfo, clear_cache
from gan_core.data.importer import DatasetError, data_root, import_dataset
from gan_core.data.trash import delete_dataset, empty_trash, restore_dataset, trashed_datasets


def data_cli(argv: list[str]) -> int:
    """``python -m gan_core data import|list|delete|download``; returns the exit status."""
    parser = _cli_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "import":
            report = import_dataset(args.src, args.name, overwrite=args.overwrite)
            clear_cache()
            print(report.summary())
            for rel, reason in report.skipped:
                print(f"  skipped {rel}: {reason}")
        elif args.command == "list":
            _print_table(list_datasets())
        elif args.command == "delete":
            where = delete_dataset(args.name)
            clear_cache()
            print(f"Deleted data set {args.name!r} (moved to {where}; `python -m gan_core data restore {args.name}` brings it back)")
        elif args.command == "restore":
            where = restore_dataset(args.name)
            clear_cache()
            print(f"Restored data set {args.name!r} to {where}")
        elif args.command == "trash":
            for t in trashed_datasets():
                print(f"{t.name}  deleted {t.deleted}  {t.path}")
        elif args.command == "empty-trash":
            removed = empty_trash(args.older_than)
            print(f"Removed {len(removed)} data set(s) from the trash for good")
        else:
            print(f"Downloaded {args.name} into {download_builtin(args.name)}")
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _cli_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gan_core data",
                                     description="Manage GAN Studio data sets "
                                     f"(stored in $GAN_DATA, now {data_root()}).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("import", help="import a folder or .zip of images as a named set")
    p.add_argument("src", help="folder (class subfolders become labels) or .zip file")
    p.add_argument("--name", required=True, help="name of the new set (letters, digits, . _ -)")
    p.add_argument("--overwrite", action="store_true", help="replace a set of the same name")
    sub.add_parser("list", help="list built-in and imported data sets")
    p = sub.add_parser("delete", help="move a data set the studio imported to the trash ($GAN_DATA/.trash)")
    p.add_argument("name")
    p = sub.add_parser("restore", help="bring a deleted data set back from the trash (its newest copy)")
    p.add_argument("name")
    sub.add_parser("trash", help="list the data sets in the trash")
    p = sub.add_parser("empty-trash", help="remove trashed data sets for good (older ones go by themselves "
                       "after GAN_TRASH_DAYS, default 7)")
    p.add_argument("--older-than", type=float, default=0.0, metavar="DAYS", help="only those deleted more than DAYS ago")
    p = sub.add_parser("download", help="download a built-in through torchvision (online)")
    p.add_argument("name", choices=("fashion-mnist", "mnist", "cifar10"))
    return parser


def _print_table(infos: list[DatasetInfo]) -> None:
    rows = [("NAME", "KIND", "AVAILABLE", "CLASSES", "COUNT", "NOTE")]
    for i in infos:
        rows.append((i.name, i.kind, "yes" if i.available else "no", str(len(i.classes) or "-"),
                     "-" if i.count is None else str(i.count), i.note))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[5])
