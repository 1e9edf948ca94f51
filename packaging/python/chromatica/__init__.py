"""Chromatica: color-based image search that runs entirely in the browser.

This package carries the `chromatica` command-line tool as a prebuilt binary; `chromatica build
IMAGES --out SITE` writes a static search site. Run it as `chromatica ...` or `python -m chromatica ...`.
"""

import os
import sys

__all__ = ["binary_path", "main"]


def binary_path() -> str:
    """The absolute path of the bundled chromatica binary."""
    name = "chromatica.exe" if sys.platform == "win32" else "chromatica"
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", name)


def main() -> None:
    binary = binary_path()
    if not os.path.isfile(binary):
        sys.exit(f"chromatica: the bundled binary is missing ({binary}); reinstall the package")
    args = [binary, *sys.argv[1:]]
    if sys.platform == "win32":
        import subprocess

        sys.exit(subprocess.call(args))
    os.execv(binary, args)
