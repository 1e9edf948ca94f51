"""Writes the chromatica wheel: the Python package beside this file plus a prebuilt binary.

    python3 make_wheel.py VERSION BINARY OUT_DIR PLATFORM_TAG

PLATFORM_TAG is the wheel platform tag of the binary, e.g. for the static Linux build
`manylinux_2_17_x86_64.musllinux_1_1_x86_64` (a static binary runs on glibc and musl systems
alike). The wheel holds no Python extension, so it is `py3-none-<platform>`.
"""

import base64
import hashlib
import os
import sys
import zipfile


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def main() -> None:
    version, binary, out_dir, platform = sys.argv[1:5]
    here = os.path.dirname(os.path.abspath(__file__))
    dist_info = f"chromatica-{version}.dist-info"
    tag = f"py3-none-{platform}"
    files = []  # (name in the wheel, bytes, executable)
    for name in ("__init__.py", "__main__.py"):
        with open(os.path.join(here, "chromatica", name), "rb") as f:
            files.append((f"chromatica/{name}", f.read(), False))
    with open(binary, "rb") as f:
        files.append(("chromatica/bin/chromatica", f.read(), True))
    readme = open(os.path.join(here, "..", "..", "README.md"), encoding="utf-8").read()
    metadata = (
        "Metadata-Version: 2.1\n"
        "Name: chromatica\n"
        f"Version: {version}\n"
        "Summary: Color-based image search that runs entirely in the browser: builds a static search site from a folder of images.\n"
        "License: MIT OR Apache-2.0\n"
        "Requires-Python: >=3.8\n"
        "Description-Content-Type: text/markdown\n\n" + readme
    )
    files.append((f"{dist_info}/METADATA", metadata.encode(), False))
    wheel = f"Wheel-Version: 1.0\nGenerator: chromatica make_wheel.py\nRoot-Is-Purelib: false\n"
    for t in platform.split("."):
        wheel += f"Tag: py3-none-{t}\n"
    files.append((f"{dist_info}/WHEEL", wheel.encode(), False))
    files.append((f"{dist_info}/entry_points.txt", b"[console_scripts]\nchromatica = chromatica:main\n", False))
    record = [record_line(name, data) for name, data, _ in files] + [f"{dist_info}/RECORD,,"]
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode(), False))

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"chromatica-{version}-{tag}.whl")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data, executable in files:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    print(path)


if __name__ == "__main__":
    main()
